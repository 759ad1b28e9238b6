//! What one refresh of `top` shows, and how it is drawn. Each binary fills a [`Model`] from its
//! own `/v1/status`; the layout, the filter and the key help are the same on both.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table as Grid};

/// One screen: a title, state lines (buffers, exporters, refusals), and tables whose rows the
/// filter selects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    /// First line: what is shown and since when.
    pub title: String,
    /// State lines under the title.
    pub lines: Vec<String>,
    /// The tables, top to bottom.
    pub tables: Vec<Table>,
}

/// A table: the filter keeps the rows whose first cell contains it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Shown in its border.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Cells, one `Vec` per row, as many as `header`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The rows the filter keeps (all of them for an empty filter).
    pub fn filtered<'a>(&'a self, filter: &'a str) -> impl Iterator<Item = &'a Vec<String>> {
        self.rows
            .iter()
            .filter(move |r| filter.is_empty() || r.first().is_some_and(|c| c.contains(filter)))
    }
}

/// What the key line says about the filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    /// The filter in force.
    pub filter: String,
    /// True while `/` is being typed.
    pub editing: bool,
    /// The last refresh failed: why.
    pub error: Option<String>,
}

/// Draws `model` on the whole frame.
pub fn draw(frame: &mut Frame, model: &Model, prompt: &Prompt) {
    let mut constraints = vec![Constraint::Length(1 + model.lines.len() as u16)];
    for t in &model.tables {
        let rows = t.filtered(&prompt.filter).count() as u16;
        constraints.push(Constraint::Min(3 + rows.min(3)));
    }
    constraints.push(Constraint::Length(1));
    let areas = Layout::vertical(constraints).split(frame.area());
    let mut head = vec![Line::styled(
        model.title.clone(),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    head.extend(model.lines.iter().map(|l| Line::raw(l.clone())));
    frame.render_widget(Paragraph::new(head), areas[0]);
    for (i, t) in model.tables.iter().enumerate() {
        let widths = widths(t);
        let rows = t
            .filtered(&prompt.filter)
            .map(|r| Row::new(r.iter().cloned()));
        let grid = Grid::new(rows, widths)
            .header(
                Row::new(t.header.iter().cloned()).style(Style::new().add_modifier(Modifier::BOLD)),
            )
            .block(Block::new().borders(Borders::TOP).title(t.title.clone()));
        frame.render_widget(grid, areas[i + 1]);
    }
    let keys = match (&prompt.error, prompt.editing) {
        (_, true) => format!("filter: /{}_   (Enter: keep, Esc: clear)", prompt.filter),
        (Some(e), false) => format!("refresh failed: {e}   q: quit"),
        (None, false) if prompt.filter.is_empty() => "q: quit   /: filter".to_string(),
        (None, false) => format!("filter: {}   q: quit   /: change filter", prompt.filter),
    };
    frame.render_widget(Paragraph::new(keys), areas[areas.len() - 1]);
}

/// Each column as wide as its widest cell (header included), plus a space.
fn widths(t: &Table) -> Vec<Constraint> {
    (0..t.header.len())
        .map(|c| {
            let w = t
                .rows
                .iter()
                .filter_map(|r| r.get(c))
                .chain(std::iter::once(&t.header[c]))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0);
            Constraint::Length(w as u16 + 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_rows_the_filter_keeps() {
        let model = Model {
            title: "dozor-collector top".into(),
            lines: vec!["series 12".into()],
            tables: vec![Table {
                title: "agents".into(),
                header: vec!["agent".into(), "points/s".into()],
                rows: vec![
                    vec!["ws-1".into(), "10.0".into()],
                    vec!["db-1".into(), "5.0".into()],
                ],
            }],
        };
        let backend = ratatui::backend::TestBackend::new(60, 10);
        let mut term = ratatui::Terminal::new(backend).unwrap();
        let prompt = Prompt {
            filter: "ws".into(),
            ..Prompt::default()
        };
        term.draw(|f| draw(f, &model, &prompt)).unwrap();
        let text: String = term
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(text.contains("ws-1"), "{text}");
        assert!(!text.contains("db-1"), "{text}");
        assert!(text.contains("filter: ws"), "{text}");
    }
}
