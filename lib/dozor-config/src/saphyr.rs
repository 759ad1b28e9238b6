//! Glue to serde-saphyr and serde_ignored: limits, one-line error messages, unknown-key paths.

use std::borrow::Cow;

use serde_saphyr::{
    Error, Localizer, Location, MessageFormatter, Options, RenderOptions, SnippetMode,
    UserMessageFormatter,
};

/// Largest accepted file, before and after environment substitution.
pub(crate) const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Most parser events in one file, for serde-saphyr and for the key map walk.
pub(crate) const MAX_EVENTS: usize = 200_000;

/// Parser options: no snippets (problems are one line each) and limits far above any real
/// configuration, so hostile input costs little.
pub(crate) fn options() -> Options {
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_FILE_BYTES),
            max_depth: 32,
            max_events: MAX_EVENTS,
            max_nodes: 100_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_merge_keys: 1_000,
            max_total_scalar_bytes: 4 * MAX_FILE_BYTES,
            max_recorded_anchor_events: 100_000,
            max_recorded_anchor_bytes: 4 * MAX_FILE_BYTES,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
        },
    }
}

/// A serde-saphyr error as `(line, column, message)`: the position (if known) apart, and the
/// message on one line without the position suffix serde-saphyr normally adds.
pub(crate) fn describe(error: &Error) -> (Option<(usize, usize)>, String) {
    let at = error
        .location()
        .filter(|l| *l != Location::UNKNOWN)
        .map(|l| {
            (
                usize::try_from(l.line()).unwrap_or(usize::MAX),
                usize::try_from(l.column()).unwrap_or(usize::MAX),
            )
        });
    let mut render = RenderOptions::new(&Plain);
    render.snippets = SnippetMode::Off;
    let text = error.render_with_options(render);
    (at, text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// serde-saphyr's user-facing wording without positions (the problem carries its own).
struct Plain;

impl MessageFormatter for Plain {
    fn localizer(&self) -> &dyn Localizer {
        &NoPositions
    }

    fn format_message<'a>(&self, err: &'a Error) -> Cow<'a, str> {
        UserMessageFormatter.format_message(err)
    }
}

struct NoPositions;

impl Localizer for NoPositions {
    fn attach_location<'a>(&self, base: Cow<'a, str>, _: Location) -> Cow<'a, str> {
        base
    }

    fn alias_defined_at(&self, _: Location) -> String {
        String::new()
    }

    fn alias_used_at(&self, _: Location) -> String {
        String::new()
    }
}

/// What serde_ignored reported: the key path and the message for it.
pub(crate) struct Ignored {
    pub path: String,
    pub message: String,
}

/// Turns a serde_ignored path into `a.b[1].c`; `None` for serde-saphyr's internal fields (the
/// synthetic map behind `Spanned<T>` shows up as ignored keys).
pub(crate) fn ignored(path: &serde_ignored::Path<'_>) -> Option<Ignored> {
    let mut rendered = String::new();
    let message = match path {
        serde_ignored::Path::Map { key, .. } => format!("unknown key \"{}\"", key.escape_debug()),
        serde_ignored::Path::Seq { .. } => "unexpected item".to_owned(),
        _ => "unexpected value".to_owned(),
    };
    render(path, &mut rendered).then_some(Ignored {
        path: rendered,
        message,
    })
}

fn render(path: &serde_ignored::Path<'_>, out: &mut String) -> bool {
    use serde_ignored::Path;
    match path {
        Path::Root => true,
        Path::Seq { parent, index } => {
            let ok = render(parent, out);
            out.push_str(&format!("[{index}]"));
            ok
        }
        Path::Map { parent, key } => {
            if key.starts_with("__serde_saphyr_private") {
                return false;
            }
            let ok = render(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
            ok
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => render(parent, out),
    }
}
