//! The series budget: the first `max` entities (in name order) keep their own series; the rest
//! are folded into one `_other` series and counted.

/// The label value of the folded series.
pub const OTHER: &str = "_other";

/// Entities by name.
pub type Named<T> = Vec<(String, T)>;

/// `items` sorted by name and split: the first `max` kept, the rest returned apart.
pub fn split<T>(mut items: Named<T>, max: usize) -> (Named<T>, Named<T>) {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let rest = items.split_off(max.min(items.len()));
    (items, rest)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_first_names() {
        let items = vec![("c".to_string(), 3), ("a".into(), 1), ("b".into(), 2)];
        let (kept, rest) = super::split(items, 2);
        assert_eq!(kept, vec![("a".to_string(), 1), ("b".into(), 2)]);
        assert_eq!(rest, vec![("c".to_string(), 3)]);
    }
}
