//! Secrets out of everything the library prints or records.
//!
//! The engine API has params and properties that carry credentials (`Global.OpenDoc`'s
//! `qPassword`, a data connection's `qPassword` and the user and password inside its
//! `qConnectionString`). The spec does not mark them, so the project keeps the list in
//! `schemas/secrets.json`; the generator emits `Debug` impls that print [`REDACTED`] for
//! them and the same list as data (`qix_generated::catalog::SECRETS`). The runtime cannot
//! see generated types, so the generator also writes the list into the runtime,
//! [`BUILTIN`] (generated under the drift check, never edited by hand), and it redacts frames
//! by the *names* of those params and properties wherever they appear, plus the secret
//! positions of array (positional) params.
//!
//! What goes through here: every frame before a [`TrafficHook`](crate::TrafficHook) or
//! [`JsonLinesLog`](crate::JsonLinesLog) sees it, the raw result and message of a
//! [`DecodeError`](crate::DecodeError), frame previews in protocol errors, and the `Debug`
//! of [`Params`](crate::Params) and [`Extra`](crate::Extra).

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// What a secret value is replaced with.
pub const REDACTED: &str = "<redacted>";

/// How a secret is redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// The whole value is a secret.
    Value,
    /// A connection string: the credentials in it are secrets (see [`connection_string`]),
    /// the rest (provider, host, database) stays readable.
    ConnectionString,
    /// A load script: the credentials of its `CONNECT` statements are secrets (see
    /// [`script`]), the rest of the script stays readable.
    Script,
}

/// A param of a method that carries a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretParam {
    /// `Class.Method`.
    pub method: &'static str,
    /// The param's wire name.
    pub param: &'static str,
    /// Its zero-based position, for params sent by position.
    pub position: usize,
    pub kind: SecretKind,
}

/// A property of a type that carries a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretProperty {
    /// The type's spec name.
    pub type_name: &'static str,
    /// The property's wire name.
    pub property: &'static str,
    pub kind: SecretKind,
}

/// A list of secret params and properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secrets {
    pub params: &'static [SecretParam],
    pub properties: &'static [SecretProperty],
}

/// `schemas/secrets.json` with positions from the pinned spec, as the runtime redacts
/// frames with it: generated (`api_tables`, by `cargo xtask regenerate`, under its drift
/// check) from the same list and spec as `qix_generated::catalog::SECRETS`, not kept by hand.
pub static BUILTIN: Secrets = crate::api_tables::SECRETS;

impl Secrets {
    /// How a JSON member of this name is redacted, if it is the name of any secret param
    /// or property. Matching by name alone over-redacts (a `qPassword` anywhere) rather
    /// than miss one in a type or method the list does not name.
    pub fn kind_of_key(&self, key: &str) -> Option<SecretKind> {
        self.params
            .iter()
            .find(|p| p.param == key)
            .map(|p| p.kind)
            .or_else(|| {
                self.properties
                    .iter()
                    .find(|p| p.property == key)
                    .map(|p| p.kind)
            })
    }

    /// Secret positions of a method, by its wire name (without the class: frames carry a
    /// handle, not a class).
    fn positions<'a>(&'a self, method: &'a str) -> impl Iterator<Item = (usize, SecretKind)> + 'a {
        self.params
            .iter()
            .filter(move |p| p.method.rsplit('.').next() == Some(method))
            .map(|p| (p.position, p.kind))
    }

    /// Could `text` hold a secret? A substring test, so the common frame costs one scan
    /// per name and no parse.
    fn may_hold(&self, text: &str) -> bool {
        self.params.iter().any(|p| {
            text.contains(p.param) || text.contains(p.method.rsplit('.').next().unwrap_or(""))
        }) || self.properties.iter().any(|p| text.contains(p.property))
    }
}

/// A JSON frame (or any JSON text) with its secrets redacted. Borrowed when it holds none.
/// Text that is not valid JSON (a cut or malformed frame) is redacted textually.
pub fn frame(text: &str) -> Cow<'_, str> {
    frame_with(&BUILTIN, text)
}

/// [`frame`] with another list.
pub fn frame_with<'a>(secrets: &Secrets, text: &'a str) -> Cow<'a, str> {
    // Error responses may echo a connection string (rare frames: parsing them is cheap).
    if !secrets.may_hold(text) && !text.contains("\"error\"") {
        return Cow::Borrowed(text);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            if value_with(secrets, &mut v) {
                Cow::Owned(v.to_string())
            } else {
                Cow::Borrowed(text)
            }
        }
        Err(_) => textual(secrets, text),
    }
}

/// Redacts a JSON value in place (a request's positional params included); true if
/// anything changed.
pub fn value(v: &mut Value) -> bool {
    value_with(&BUILTIN, v)
}

/// [`value`] with another list.
pub fn value_with(secrets: &Secrets, v: &mut Value) -> bool {
    let mut changed = false;
    if let Value::Object(m) = &*v {
        if let (Some(Value::String(method)), Some(Value::Array(_))) =
            (m.get("method"), m.get("params"))
        {
            let positions: Vec<(usize, SecretKind)> = secrets.positions(method).collect();
            if let Some(Value::Array(params)) = v.get_mut("params") {
                for (i, kind) in positions {
                    if let Some(p) = params.get_mut(i) {
                        changed |= redact_value(p, kind);
                    }
                }
            }
        }
    }
    if let Some(Value::Object(error)) = v.get_mut("error") {
        for key in ["parameter", "message"] {
            if let Some(Value::String(text)) = error.get_mut(key) {
                if let Cow::Owned(r) = connection_string(text) {
                    *text = r;
                    changed = true;
                }
            }
        }
    }
    // An explicit stack: frames may nest deeper than the call stack should.
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                // A patch operation (a delta answer's `{"op", "path", "value"}`, or
                // `ApplyPatches`' `{"qOp", "qPath", "qValue"}` whose value is JSON text)
                // whose path ends at a secret: its value is that secret.
                for (path, value) in [("path", "value"), ("qPath", "qValue")] {
                    let kind = match m.get(path) {
                        Some(Value::String(p)) => secret_at_path(secrets, p),
                        _ => None,
                    };
                    if let (Some(kind), Some(v)) = (kind, m.get_mut(value)) {
                        changed |= redact_value(v, kind);
                    }
                }
                for (k, child) in m.iter_mut() {
                    match secrets.kind_of_key(k) {
                        Some(kind) => changed |= redact_value(child, kind),
                        None => stack.push(child),
                    }
                }
            }
            Value::Array(a) => stack.extend(a.iter_mut()),
            _ => {}
        }
    }
    changed
}

/// The kind of secret a JSON pointer (`/qConnection/qConnectionString`) ends at, if any.
fn secret_at_path(secrets: &Secrets, path: &str) -> Option<SecretKind> {
    let last = path.rsplit('/').next()?;
    secrets.kind_of_key(last)
}

fn redact_value(v: &mut Value, kind: SecretKind) -> bool {
    match (kind, &*v) {
        (_, Value::Null) => false,
        // An empty password hides nothing, and recordings read better with it.
        (SecretKind::Value, Value::String(s)) if s.is_empty() || s == REDACTED => false,
        (SecretKind::ConnectionString, Value::String(s)) => match connection_string(s) {
            Cow::Borrowed(_) => false,
            Cow::Owned(r) => {
                *v = Value::String(r);
                true
            }
        },
        (SecretKind::Script, Value::String(s)) => match script(s) {
            Cow::Borrowed(_) => false,
            Cow::Owned(r) => {
                *v = Value::String(r);
                true
            }
        },
        // A patch that removes or replaces a secret with a container: redact it whole.
        (SecretKind::ConnectionString | SecretKind::Script, _) => {
            *v = Value::String(REDACTED.into());
            true
        }
        _ => {
            *v = Value::String(REDACTED.into());
            true
        }
    }
}

/// Free text that may hold JSON or connection strings (error messages, previews of
/// malformed frames): valid JSON is redacted as JSON; otherwise the string values of
/// secret members are cut out textually and credentials in connection-string syntax are
/// redacted.
pub fn text(s: &str) -> Cow<'_, str> {
    match frame(s) {
        Cow::Borrowed(_) => connection_string(s),
        Cow::Owned(r) => Cow::Owned(connection_string(&r).into_owned()),
    }
}

/// For text that is not valid JSON: every `"<secret name>" : <value>` loses its value (up
/// to the end of its string, or of the text when it is cut), and connection-string
/// credentials are redacted.
fn textual<'a>(secrets: &Secrets, text: &'a str) -> Cow<'a, str> {
    let names: Vec<&str> = secrets
        .params
        .iter()
        .map(|p| p.param)
        .chain(secrets.properties.iter().map(|p| p.property))
        .collect();
    let b = text.as_bytes();
    let mut out = String::new();
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        let hit = names.iter().find(|n| {
            b[i] == b'"'
                && b[i + 1..].starts_with(n.as_bytes())
                && b.get(i + 1 + n.len()) == Some(&b'"')
        });
        let Some(name) = hit else {
            i += 1;
            continue;
        };
        let mut j = i + name.len() + 2;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) != Some(&b':') {
            i += 1;
            continue;
        }
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let end = if b.get(j) == Some(&b'"') {
            let mut k = j + 1;
            while k < b.len() && b[k] != b'"' {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            (k + 1).min(b.len())
        } else {
            let mut k = j;
            while k < b.len() && !matches!(b[k], b',' | b'}' | b']') {
                k += 1;
            }
            k
        };
        if end > j {
            out.push_str(&text[last..j]);
            out.push('"');
            out.push_str(REDACTED);
            out.push('"');
            last = end;
        }
        i = end.max(i + 1);
    }
    let out = if last == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[last..]);
        Cow::Owned(out)
    };
    match connection_string(&out) {
        Cow::Borrowed(_) => out,
        Cow::Owned(r) => Cow::Owned(r),
    }
}

/// A load script with the credentials of its `CONNECT` statements redacted
/// (`ODBC CONNECT TO [dsn] (XUserId is …, XPassword is …);`, `OLEDB CONNECT TO
/// [Provider=…;User ID=…;Password=…];`, `CUSTOM CONNECT TO "provider=…;password=…;";`,
/// `LIB CONNECT TO …`): each statement from `CONNECT` to its `;` is redacted as a
/// [`connection_string`]. The rest of the script is left alone (a `user` variable of the
/// script is not a credential). Borrowed when there is nothing to redact.
pub fn script(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut last = 0;
    let mut i = 0;
    while i + 7 <= b.len() {
        let starts_word = i == 0 || !is_word(b[i - 1]);
        if !(starts_word
            && b[i..i + 7].eq_ignore_ascii_case(b"connect")
            && b.get(i + 7).is_none_or(|c| !is_word(*c)))
        {
            i += 1;
            continue;
        }
        // The statement ends at the first `;` outside quotes and brackets.
        let mut end = i + 7;
        let mut quote: Option<u8> = None;
        while end < b.len() {
            match (quote, b[end]) {
                (None, b';') => break,
                (None, q @ (b'"' | b'\'' | b'[')) => quote = Some(if q == b'[' { b']' } else { q }),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            end += 1;
        }
        if let Cow::Owned(r) = connection_string(&s[i..end]) {
            out.push_str(&s[last..i]);
            out.push_str(&r);
            last = end;
        }
        i = end.max(i + 1);
    }
    if last == 0 {
        return Cow::Borrowed(s);
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

/// Names of connection-string keys that hold credentials, normalized (lower case, no
/// spaces, `_`, `-` or `.`): ODBC/OLE DB (`UID`, `PWD`, `User ID`, `Password`), Qlik's
/// connectors (`XUserId`, `XPassword`), cloud stores (`AccountKey`, `SharedAccessKey`, …).
const CREDENTIAL_KEYS: &[&str] = &[
    "password",
    "pwd",
    "pass",
    "passwd",
    "passphrase",
    "xpassword",
    "userid",
    "uid",
    "user",
    "username",
    "xuserid",
    "secret",
    "clientsecret",
    "token",
    "accesstoken",
    "refreshtoken",
    "authtoken",
    "sessiontoken",
    "sastoken",
    "apikey",
    "accesskey",
    "secretkey",
    "secretaccesskey",
    "accountkey",
    "sharedaccesskey",
    "privatekey",
    "credentials",
];

fn is_credential_key(words: &str) -> bool {
    let norm: String = words
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    CREDENTIAL_KEYS.contains(&norm.as_str())
}

/// A connection string with its credentials redacted: the values of user and password
/// keys in `key=value` form (`UID=sa;PWD={p;w}`, `User ID=sa;Password="x"`, Qlik's
/// `XUserId=…;XPassword=…`), in `key is value` form (`(XUserId is …, XPassword is …)` of
/// the load script's `CONNECT`), and the user info of URLs (`postgres://u:p@host`).
/// Borrowed when there is nothing to redact.
pub fn connection_string(s: &str) -> Cow<'_, str> {
    let spans = credential_spans(s);
    if spans.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (start, end) in spans {
        out.push_str(&s[last..start]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

/// Where the credentials of a connection string are, in order.
fn credential_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"://") {
            if let Some(span) = url_userinfo(b, i + 3) {
                spans.push(span);
                i = span.1;
                continue;
            }
        }
        let boundary = i == 0
            || matches!(
                b[i - 1],
                b';' | b','
                    | b'('
                    | b'['
                    | b'{'
                    | b'"'
                    | b'\''
                    | b'&'
                    | b'?'
                    | b' '
                    | b'\t'
                    | b'\n'
                    | b'\r'
            );
        if boundary && b[i].is_ascii_alphabetic() {
            if let Some(span) = credential_at(s, i) {
                spans.push(span);
                i = span.1;
                continue;
            }
        }
        i += 1;
    }
    spans
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// The span of the value of a credential key starting at `i`, if there is one there.
fn credential_at(s: &str, i: usize) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let mut end = i;
    // Keys of one or two words (`Password`, `User ID`).
    for _ in 0..2 {
        while end < b.len() && is_word(b[end]) {
            end += 1;
        }
        if end == i {
            return None;
        }
        if let Some((value, is_form)) = separator(b, end) {
            if is_credential_key(&s[i..end]) {
                return value_span(b, value, is_form);
            }
            return None;
        }
        // A second word after exactly one space.
        if b.get(end) == Some(&b' ') && b.get(end + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            end += 1;
        } else {
            return None;
        }
    }
    None
}

/// After a key ending at `j`: where the value starts, and whether the separator was
/// ` is ` (whose values also end at a comma).
fn separator(b: &[u8], mut j: usize) -> Option<(usize, bool)> {
    let mut k = j;
    while k < b.len() && b[k] == b' ' {
        k += 1;
    }
    if b.get(k) == Some(&b'=') && b.get(k + 1) != Some(&b'=') {
        return Some((k + 1, false));
    }
    if k > j && b.len() >= k + 3 && b[k..k + 2].eq_ignore_ascii_case(b"is") && b[k + 2] == b' ' {
        j = k + 3;
        return Some((j, true));
    }
    None
}

fn value_span(b: &[u8], mut v: usize, is_form: bool) -> Option<(usize, usize)> {
    while v < b.len() && b[v] == b' ' {
        v += 1;
    }
    let close = match b.get(v) {
        Some(b'{') => Some(b'}'),
        Some(b'"') => Some(b'"'),
        Some(b'\'') => Some(b'\''),
        Some(b'[') => Some(b']'),
        _ => None,
    };
    let end = match close {
        Some(c) => {
            let mut k = v + 1;
            loop {
                match b.get(k) {
                    None => break b.len(),
                    // ODBC doubles a closing brace inside a braced value.
                    Some(&x) if x == c && c == b'}' && b.get(k + 1) == Some(&b'}') => k += 2,
                    Some(&x) if x == c => break k + 1,
                    Some(_) => k += 1,
                }
            }
        }
        None => {
            let mut k = v;
            while k < b.len()
                && !matches!(
                    b[k],
                    b';' | b'&' | b'"' | b'\'' | b'\n' | b'\r' | b')' | b']'
                )
                && !(is_form && b[k] == b',')
            {
                k += 1;
            }
            while k > v && b[k - 1] == b' ' {
                k -= 1;
            }
            k
        }
    };
    (end > v).then_some((v, end))
}

/// The user info of a URL whose authority starts at `i` (`user:pass` in
/// `scheme://user:pass@host`).
fn url_userinfo(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut k = i;
    while k < b.len() {
        match b[k] {
            b'@' => return (k > i).then_some((i, k)),
            b'/' | b'?' | b'#' | b';' | b'"' | b'\'' | b' ' | b'\t' | b'\n' | b'\r' => return None,
            _ => k += 1,
        }
    }
    None
}

/// `Debug` of a secret field: what generated `Debug` impls print for the params and
/// properties in `schemas/secrets.json`.
pub struct Redacted<'a, T: ?Sized>(pub &'a T, pub SecretKind);

/// Values a secret field can hold.
pub trait SecretDebug {
    fn fmt_secret(&self, kind: SecretKind, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl SecretDebug for str {
    fn fmt_secret(&self, kind: SecretKind, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match kind {
            SecretKind::Value => fmt::Debug::fmt(REDACTED, f),
            SecretKind::ConnectionString => fmt::Debug::fmt(&*connection_string(self), f),
            SecretKind::Script => fmt::Debug::fmt(&*script(self), f),
        }
    }
}

impl SecretDebug for String {
    fn fmt_secret(&self, kind: SecretKind, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_str().fmt_secret(kind, f)
    }
}

impl<T: SecretDebug + ?Sized> SecretDebug for Box<T> {
    fn fmt_secret(&self, kind: SecretKind, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt_secret(kind, f)
    }
}

impl<T: SecretDebug> SecretDebug for Option<T> {
    fn fmt_secret(&self, kind: SecretKind, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            None => f.write_str("None"),
            Some(v) => f.debug_tuple("Some").field(&Redacted(v, kind)).finish(),
        }
    }
}

impl<T: SecretDebug + ?Sized> fmt::Debug for Redacted<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_secret(self.1, f)
    }
}

/// Collects the secret strings of a JSON text, to scrub them from messages that quote
/// parts of it (serde's "invalid type: string \"…\"").
pub(crate) fn secret_strings(text: &str) -> Vec<String> {
    if !BUILTIN.may_hold(text) {
        return Vec::new();
    }
    let Ok(mut redacted) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let Ok(original) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    value(&mut redacted);
    let mut out = Vec::new();
    let mut stack = vec![(&original, &redacted)];
    while let Some((a, b)) = stack.pop() {
        match (a, b) {
            (Value::String(x), Value::String(y)) if x != y => {
                for (start, end) in credential_spans(x) {
                    let v = x[start..end]
                        .trim_matches(|c| matches!(c, '{' | '}' | '"' | '\'' | '[' | ']'));
                    out.push(v.to_string());
                }
                out.push(x.clone());
            }
            (Value::Object(x), Value::Object(y)) => {
                stack.extend(x.iter().filter_map(|(k, v)| Some((v, y.get(k)?))))
            }
            (Value::Array(x), Value::Array(y)) => stack.extend(x.iter().zip(y)),
            (x, y) if x != y => out.push(x.to_string()),
            _ => {}
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// `message` with every one of `secrets` replaced by [`REDACTED`], and then redacted as
/// free [`text`].
pub(crate) fn scrub(message: &str, secrets: &[String]) -> String {
    let mut m = message.to_string();
    for s in secrets {
        if m.contains(s.as_str()) {
            m = m.replace(s.as_str(), REDACTED);
        }
    }
    text(&m).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connection_strings_lose_their_credentials_only() {
        let cases = [
            (
                "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=postgres;host=db;XUserId=FVbHYZB;XPassword=ABCdef;\"",
                "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=postgres;host=db;XUserId=<redacted>;XPassword=<redacted>;\"",
            ),
            (
                "Driver={SQL Server};Server=db;UID=sa;PWD={p;w}}d};Database=x",
                "Driver={SQL Server};Server=db;UID=<redacted>;PWD=<redacted>;Database=x",
            ),
            (
                "Provider=SQLOLEDB.1;User ID=sa;Password=\"s3;cret\";Initial Catalog=x",
                "Provider=SQLOLEDB.1;User ID=<redacted>;Password=<redacted>;Initial Catalog=x",
            ),
            (
                "ODBC CONNECT TO [Sales DSN] (XUserId is JRbAUYB, XPassword is XbOPYZ)",
                "ODBC CONNECT TO [Sales DSN] (XUserId is <redacted>, XPassword is <redacted>)",
            ),
            (
                "postgres://admin:hunter2@db.example:5432/sales",
                "postgres://<redacted>@db.example:5432/sales",
            ),
            (
                "https://api.example/v1?api_key=abc123&format=json",
                "https://api.example/v1?api_key=<redacted>&format=json",
            ),
            ("password = spaced out ;x=1", "password = <redacted> ;x=1"),
            ("lib://DataFiles/", "lib://DataFiles/"),
            (
                "host=db;port=5432;userfield=keep",
                "host=db;port=5432;userfield=keep",
            ),
            ("Password=", "Password="),
            ("Password=abc", "Password=<redacted>"),
            ("a==b;pwd==", "a==b;pwd=="),
        ];
        for (input, want) in cases {
            assert_eq!(connection_string(input), want, "{input}");
        }
        assert!(matches!(
            connection_string("host=db;port=1"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn frames_lose_secrets_by_name_and_by_position() {
        let named = r#"{"jsonrpc":"2.0","id":1,"handle":-1,"method":"OpenDoc","params":{"qDocName":"a","qUserName":"u","qPassword":"hunter2"}}"#;
        let r = frame(named);
        assert!(
            !r.contains("hunter2") && r.contains(REDACTED) && r.contains("\"qDocName\":\"a\""),
            "{r}"
        );
        let positional = r#"{"jsonrpc":"2.0","id":1,"handle":-1,"method":"CreateDocEx","params":["a","u","hunter2","serial"]}"#;
        let r = frame(positional);
        assert!(!r.contains("hunter2") && r.contains("serial"), "{r}");
        let nested = json!({"id": 2, "result": {"qConnection": {"qId": "c", "qPassword": "hunter2",
            "qConnectionString": "CUSTOM CONNECT TO \"provider=x;user=bob;password=hunter2;\""}}});
        let r = frame(&nested.to_string()).into_owned();
        assert!(
            !r.contains("hunter2") && !r.contains("bob") && r.contains("provider=x"),
            "{r}"
        );
        let plain = r#"{"id":3,"result":{"qLayout":{"qInfo":{"qId":"x"}}}}"#;
        assert!(matches!(frame(plain), Cow::Borrowed(_)));
        // Cut or malformed JSON: textual.
        let cut = r#"{"id":1,"method":"OpenDoc","params":{"qPassword" : "hunter2\"x", "qDocName":"#;
        let r = frame(cut);
        assert!(!r.contains("hunter2"), "{r}");
        let cut = r#"{"params":{"qPassword":"hunter"#;
        assert!(!frame(cut).contains("hunter"));
        // An engine error that echoes a connection string.
        let echo = r#"{"id":4,"error":{"code":-128,"parameter":"host=db;UID=bob;PWD=hunter2","message":"failed: UID=bob;PWD=hunter2"}}"#;
        let r = frame(echo);
        assert!(
            !r.contains("hunter2") && !r.contains("bob") && r.contains("host=db"),
            "{r}"
        );
        // Deep nesting does not overflow the stack.
        let deep = format!(
            "{}{{\"qPassword\":\"hunter2\"}}{}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(!frame(&deep).contains("hunter2"));
    }

    #[test]
    fn scripts_lose_the_credentials_of_their_connect_statements_only() {
        let script_text = "SET user='keep';\r\nLIB CONNECT TO 'DataFiles';\r\nODBC CONNECT TO [Sales; DSN] (XUserId is JRbAUYB, XPassword is XbOPYZ);\r\nLOAD * FROM t;\r\nCUSTOM CONNECT TO \"provider=x;host=db;user=bob;password=hunter2;\";\r\nconnected: LOAD 1 as password AUTOGENERATE 1;";
        let r = script(script_text);
        for gone in ["JRbAUYB", "XbOPYZ", "bob", "hunter2"] {
            assert!(!r.contains(gone), "{gone} in {r}");
        }
        for kept in [
            "SET user='keep';",
            "LIB CONNECT TO 'DataFiles';",
            "[Sales; DSN]",
            "LOAD * FROM t;",
            "host=db",
            "connected: LOAD 1 as password AUTOGENERATE 1;",
            "\r\n",
        ] {
            assert!(r.contains(kept), "{kept} not in {r}");
        }
        assert!(matches!(script("LOAD 1 AUTOGENERATE 1;"), Cow::Borrowed(_)));
        // In frames: SetScript's param, GetScript's answer.
        let f = serde_json::json!({"id": 1, "method": "SetScript", "handle": 1, "params": [script_text]}).to_string();
        assert!(!frame(&f).contains("hunter2"));
        let f = serde_json::json!({"id": 1, "result": {"qScript": script_text}}).to_string();
        assert!(!frame(&f).contains("XbOPYZ"));
    }

    #[test]
    fn patches_whose_path_names_a_secret_lose_their_value() {
        let delta = serde_json::json!({"id": 7, "delta": true, "result": {"qConnection": [
            {"op": "replace", "path": "/qConnectionString", "value": "host=db;UID=bob;PWD=hunter2"},
            {"op": "add", "path": "/qPassword", "value": "swordfish"},
            {"op": "replace", "path": "/qName", "value": "kept"}
        ]}})
        .to_string();
        let r = frame(&delta);
        assert!(
            !r.contains("hunter2") && !r.contains("bob") && !r.contains("swordfish"),
            "{r}"
        );
        assert!(r.contains("host=db") && r.contains("kept"), "{r}");
        let apply = serde_json::json!({"id": 8, "method": "ApplyPatches", "handle": 3, "params": {"qPatches": [
            {"qOp": "replace", "qPath": "/qConnection/qPassword", "qValue": "\"swordfish\""}
        ]}}).to_string();
        assert!(!frame(&apply).contains("swordfish"));
    }

    #[test]
    fn messages_lose_the_secret_strings_of_the_json_they_quote() {
        let raw =
            r#"{"qConnection":{"qPassword":"hunter2","qConnectionString":"host=a;pwd=swordfish"}}"#;
        let s = secret_strings(raw);
        let m = scrub(
            "invalid type: string \"hunter2\", also swordfish and pwd=swordfish",
            &s,
        );
        assert!(!m.contains("hunter2") && !m.contains("swordfish"), "{m}");
    }
}
