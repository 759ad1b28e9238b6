//! The live loop: the alternate screen in raw mode, a refresh every interval, keys between
//! refreshes. `q`, Esc and Ctrl-C quit; `/` types a filter. The terminal is restored however
//! the loop ends (an error, a panic).

use crate::view::{self, Model, Prompt};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{execute, terminal};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Runs until the user quits. `fetch` is called once per `interval` and returns the screen,
/// or why the refresh failed (the last screen stays, with the error on the key line).
/// `filter` is the starting filter (`--filter`).
pub fn run(
    interval: Duration,
    filter: String,
    mut fetch: impl FnMut() -> Result<Model, String>,
) -> std::io::Result<()> {
    if !std::io::stdout().is_terminal() {
        return Err(std::io::Error::other(
            "top needs a terminal; use `status --json` in scripts",
        ));
    }
    let _restore = Restore::enter()?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut term = ratatui::Terminal::new(backend)?;
    term.clear()?;
    let mut prompt = Prompt {
        filter,
        ..Prompt::default()
    };
    let mut model = Model::default();
    let mut next = Instant::now();
    loop {
        if Instant::now() >= next {
            match fetch() {
                Ok(m) => {
                    model = m;
                    prompt.error = None;
                }
                Err(e) => prompt.error = Some(e),
            }
            next = Instant::now() + interval;
        }
        term.draw(|f| view::draw(f, &model, &prompt))?;
        let wait = next.saturating_duration_since(Instant::now());
        if event::poll(wait)?
            && let Event::Key(key) = event::read()?
            && key.kind != KeyEventKind::Release
            && handle(key, &mut prompt) == Step::Quit
        {
            return Ok(());
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Step {
    Go,
    Quit,
}

fn handle(key: KeyEvent, prompt: &mut Prompt) -> Step {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Step::Quit;
    }
    if prompt.editing {
        match key.code {
            KeyCode::Enter => prompt.editing = false,
            KeyCode::Esc => {
                prompt.editing = false;
                prompt.filter.clear();
            }
            KeyCode::Backspace => {
                prompt.filter.pop();
            }
            KeyCode::Char(c) if prompt.filter.len() < 100 => prompt.filter.push(c),
            _ => {}
        }
        return Step::Go;
    }
    match key.code {
        KeyCode::Char('q') | KeyCode::Esc => Step::Quit,
        KeyCode::Char('/') => {
            prompt.editing = true;
            prompt.filter.clear();
            Step::Go
        }
        _ => Step::Go,
    }
}

/// Raw mode and the alternate screen while alive; the terminal as it was once dropped, and
/// on a panic before the message is printed.
struct Restore;

impl Restore {
    fn enter() -> std::io::Result<Restore> {
        terminal::enable_raw_mode()?;
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            leave();
            hook(info);
        }));
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            ratatui::crossterm::cursor::Hide
        )?;
        Ok(Restore)
    }
}

fn leave() {
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
    let _ = terminal::disable_raw_mode();
}

impl Drop for Restore {
    fn drop(&mut self) {
        leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_quit_and_filter() {
        let mut p = Prompt::default();
        assert_eq!(handle(key(KeyCode::Char('/')), &mut p), Step::Go);
        for c in "ws-1q".chars() {
            assert_eq!(
                handle(key(KeyCode::Char(c)), &mut p),
                Step::Go,
                "typed, not a key"
            );
        }
        handle(key(KeyCode::Backspace), &mut p);
        handle(key(KeyCode::Enter), &mut p);
        assert_eq!((p.filter.as_str(), p.editing), ("ws-1", false));
        assert_eq!(handle(key(KeyCode::Char('q')), &mut p), Step::Quit);
        assert_eq!(handle(key(KeyCode::Esc), &mut p), Step::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        p.editing = true;
        assert_eq!(handle(ctrl_c, &mut p), Step::Quit);
    }
}
