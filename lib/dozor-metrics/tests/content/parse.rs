//! The PromQL parser, which infers result labels as it goes: precedence climbing over binary
//! operators, then selectors, aggregations and function calls, after the Prometheus 2.42 grammar.

use super::infer::suggest;
use super::lex::{Tok, lex};
use super::{Analysis, Finding, LabelSet, Schema, Selector};

/// Reads `expr` against `schema`.
pub fn analyse(expr: &str, schema: &Schema) -> Analysis {
    let mut p = Parser {
        toks: Vec::new(),
        i: 0,
        schema,
        selectors: Vec::new(),
        findings: Vec::new(),
    };
    let result = match lex(expr) {
        Ok(toks) => {
            p.toks = toks;
            match p.expr(0).and_then(|ty| match p.peek() {
                Tok::Eof => Ok(ty),
                t => Err(p.err(format!("unexpected {t:?} after the expression"))),
            }) {
                Ok(Ty::Vector(l)) => Some(l),
                Ok(Ty::Matrix(_)) => {
                    p.note(
                        0,
                        "the expression is a range vector, not an instant vector".into(),
                    );
                    None
                }
                Ok(_) => None,
                Err(f) => {
                    p.findings.push(f);
                    None
                }
            }
        }
        Err(f) => {
            p.findings.push(f);
            None
        }
    };
    Analysis {
        selectors: p.selectors,
        findings: p.findings,
        result,
    }
}

#[derive(Clone, Debug)]
pub(super) enum Ty {
    Scalar,
    Str(String),
    Vector(LabelSet),
    Matrix(LabelSet),
}

const AGGREGATIONS: [&str; 12] = [
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];

const KEYWORDS: [&str; 12] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "atan2",
];

/// The parser's state: tokens, position, and what it found so far.
pub(super) struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    i: usize,
    schema: &'a Schema,
    selectors: Vec<Selector>,
    findings: Vec<Finding>,
}

fn precedence(t: &Tok) -> Option<(u8, &str)> {
    Some(match t {
        Tok::Ident(k) if k == "or" => (1, "or"),
        Tok::Ident(k) if k == "and" => (2, "and"),
        Tok::Ident(k) if k == "unless" => (2, "unless"),
        Tok::Op(o @ ("==" | "!=" | "<=" | ">=" | "<" | ">")) => (3, o),
        Tok::Op(o @ ("+" | "-")) => (4, o),
        Tok::Op(o @ ("*" | "/" | "%")) => (5, o),
        Tok::Ident(k) if k == "atan2" => (5, "atan2"),
        Tok::Op("^") => (6, "^"),
        _ => return None,
    })
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Tok {
        self.toks[self.i].0.clone()
    }

    pub(super) fn pos(&self) -> usize {
        self.toks[self.i].1
    }

    pub(super) fn bump(&mut self) -> Tok {
        let t = self.peek();
        if t != Tok::Eof {
            self.i += 1;
        }
        t
    }

    pub(super) fn err(&self, message: String) -> Finding {
        Finding {
            offset: self.pos(),
            message,
        }
    }

    pub(super) fn note(&mut self, offset: usize, message: String) {
        self.findings.push(Finding { offset, message });
    }

    pub(super) fn expect(&mut self, c: char) -> Result<(), Finding> {
        match self.bump() {
            Tok::Punct(p) if p == c => Ok(()),
            t => {
                self.i -= usize::from(t != Tok::Eof);
                Err(self.err(format!("expected `{c}`, found {t:?}")))
            }
        }
    }

    pub(super) fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(k) if k == word)
    }

    pub(super) fn expr(&mut self, min_prec: u8) -> Result<Ty, Finding> {
        let mut lhs = self.unary()?;
        while let Some((prec, op)) = precedence(&self.peek()) {
            if prec < min_prec {
                break;
            }
            let op = op.to_string();
            let at = self.pos();
            self.bump();
            if self.is_ident("bool") {
                self.bump();
            }
            let mut on = None;
            for kw in ["on", "ignoring"] {
                if self.is_ident(kw) {
                    self.bump();
                    on = Some((kw == "on", self.label_list()?));
                }
            }
            let mut group = None;
            for kw in ["group_left", "group_right"] {
                if self.is_ident(kw) {
                    self.bump();
                    let extra = if self.peek() == Tok::Punct('(') {
                        self.label_list()?
                    } else {
                        Vec::new()
                    };
                    group = Some((kw == "group_left", extra));
                }
            }
            // `^` is right-associative, everything else left-associative.
            let rhs = self.expr(if op == "^" { prec } else { prec + 1 })?;
            lhs = self.binary(at, &op, lhs, rhs, on, group);
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Ty, Finding> {
        if matches!(self.peek(), Tok::Op("-" | "+")) {
            self.bump();
            return self.expr(6);
        }
        let ty = self.primary()?;
        self.postfix(ty)
    }

    fn postfix(&mut self, mut ty: Ty) -> Result<Ty, Finding> {
        loop {
            match self.peek() {
                Tok::Punct('[') => {
                    let at = self.pos();
                    self.bump();
                    self.duration()?;
                    let subquery = self.peek() == Tok::Punct(':');
                    if subquery {
                        self.bump();
                        if self.peek() == Tok::Duration {
                            self.bump();
                        }
                    }
                    self.expect(']')?;
                    ty = match ty {
                        Ty::Vector(l) => Ty::Matrix(l),
                        _ => {
                            self.note(at, "a range needs an instant vector before it".into());
                            Ty::Matrix(LabelSet::Any)
                        }
                    };
                }
                Tok::Ident(k) if k == "offset" => {
                    self.bump();
                    if matches!(self.peek(), Tok::Op("-")) {
                        self.bump();
                    }
                    self.duration()?;
                }
                Tok::Punct('@') => {
                    self.bump();
                    match self.bump() {
                        Tok::Number => {}
                        Tok::Ident(k) if k == "start" || k == "end" => {
                            self.expect('(')?;
                            self.expect(')')?;
                        }
                        t => return Err(self.err(format!("expected a time after @, found {t:?}"))),
                    }
                }
                _ => return Ok(ty),
            }
        }
    }

    fn duration(&mut self) -> Result<(), Finding> {
        match self.bump() {
            Tok::Duration => Ok(()),
            t => Err(self.err(format!("expected a duration, found {t:?}"))),
        }
    }

    pub(super) fn label_list(&mut self) -> Result<Vec<String>, Finding> {
        self.expect('(')?;
        let mut out = Vec::new();
        loop {
            match self.bump() {
                Tok::Punct(')') => return Ok(out),
                Tok::Ident(l) => out.push(l),
                t => return Err(self.err(format!("expected a label name, found {t:?}"))),
            }
            match self.bump() {
                Tok::Punct(',') => {}
                Tok::Punct(')') => return Ok(out),
                t => return Err(self.err(format!("expected `,` or `)`, found {t:?}"))),
            }
        }
    }

    fn primary(&mut self) -> Result<Ty, Finding> {
        let at = self.pos();
        match self.peek() {
            Tok::Punct('(') => {
                self.bump();
                let ty = self.expr(0)?;
                self.expect(')')?;
                Ok(ty)
            }
            Tok::Number => {
                self.bump();
                Ok(Ty::Scalar)
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Ty::Str(s))
            }
            Tok::Punct('{') => self.selector(None, at),
            Tok::Ident(name) => {
                self.bump();
                let lower = name.to_ascii_lowercase();
                let next = self.peek();
                if lower == "inf" || lower == "nan" {
                    Ok(Ty::Scalar)
                } else if AGGREGATIONS.contains(&name.as_str())
                    && (next == Tok::Punct('(') || self.is_ident("by") || self.is_ident("without"))
                {
                    self.aggregation(&name, at)
                } else if next == Tok::Punct('(') {
                    self.function(&name, at)
                } else if KEYWORDS.contains(&name.as_str()) {
                    Err(Finding {
                        offset: at,
                        message: format!("unexpected keyword `{name}`"),
                    })
                } else {
                    self.selector(Some(name), at)
                }
            }
            t => Err(self.err(format!("unexpected {t:?}"))),
        }
    }

    fn selector(&mut self, name: Option<String>, at: usize) -> Result<Ty, Finding> {
        let mut matchers = Vec::new();
        if self.peek() == Tok::Punct('{') {
            self.bump();
            loop {
                let label = match self.bump() {
                    Tok::Punct('}') => break,
                    Tok::Ident(l) | Tok::Str(l) => l,
                    t => return Err(self.err(format!("expected a label matcher, found {t:?}"))),
                };
                let op = match self.bump() {
                    Tok::Op(op @ ("=" | "!=" | "=~" | "!~")) => op,
                    t => return Err(self.err(format!("expected =, !=, =~ or !~, found {t:?}"))),
                };
                let value = match self.bump() {
                    Tok::Str(v) => v,
                    t => {
                        return Err(self.err(format!("expected a quoted label value, found {t:?}")));
                    }
                };
                matchers.push((label, op.to_string(), value));
                match self.bump() {
                    Tok::Punct(',') => {}
                    Tok::Punct('}') => break,
                    t => return Err(self.err(format!("expected `,` or `}}`, found {t:?}"))),
                }
            }
        }
        let name = name.or_else(|| {
            matchers
                .iter()
                .find(|(l, op, _)| l == "__name__" && op == "=")
                .map(|(_, _, v)| v.clone())
        });
        let labels = match &name {
            None => LabelSet::Any,
            Some(n) => match self.schema.get(n) {
                None => {
                    let hint = suggest(n, self.schema.keys())
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    self.note(
                        at,
                        format!("unknown metric `{n}`: the catalogue cannot produce it{hint}"),
                    );
                    LabelSet::Any
                }
                Some(labels) => labels.clone(),
            },
        };
        for (label, _, _) in &matchers {
            if label != "__name__" && !labels.can_have(label) {
                self.note(
                    at,
                    format!(
                        "`{}` has no label `{label}` (it can have: {})",
                        name.as_deref().unwrap_or("?"),
                        labels.describe()
                    ),
                );
            }
        }
        self.selectors.push(Selector { name, matchers });
        Ok(Ty::Vector(labels))
    }
}
