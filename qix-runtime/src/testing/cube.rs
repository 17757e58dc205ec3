//! [`MockCube`]: a straight hypercube of any size that a [`MockEngine`] serves, for tests and
//! benchmarks of data extraction. Its cells are computed from (row, column, generation), so a
//! million-row cube costs no memory, and each page's JSON is written directly as text (no
//! JSON tree per request: serving must not be what a benchmark of the client measures).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::{MockEngine, MockRequest, Reply};

/// What a column of a [`MockCube`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockColumn {
    /// A text dimension (`$ascii`, `$text`) of `distinct` values, `"<name> <k>"`; every
    /// 97th row is the engine's null (`qIsNull`, `qElemNumber` -2, text `-`).
    Text { name: String, distinct: u32 },
    /// A date dimension (`$numeric`, `$integer`, `$timestamp`, `$date`; format `D`): day
    /// serials from 2023-01-01 with their ISO text.
    Date { name: String },
    /// A measure (format `F`): `row × 0.1 + column ÷ 3`, plus 1,000 per generation,
    /// text with two decimals; every 89th row has no value (`qNum` `"NaN"`, text `-`).
    Measure { name: String },
}

impl MockColumn {
    /// The column's title.
    pub fn name(&self) -> &str {
        match self {
            MockColumn::Text { name, .. }
            | MockColumn::Date { name }
            | MockColumn::Measure { name } => name,
        }
    }
}

/// One cell as the mock serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockCell {
    /// `None` is sent as the engine's null text `"-"` with `qIsNull`.
    pub text: Option<String>,
    /// NaN is sent as `"NaN"`.
    pub num: f64,
    pub elem: i32,
}

/// A straight hypercube served by a [`MockEngine`] on one object handle.
///
/// ```no_run
/// # async fn demo() {
/// use qix_runtime::testing::{MockColumn, MockCube, MockEngine};
/// let mock = MockEngine::start().await;
/// let cube = MockCube::new(1_000_000)
///     .column(MockColumn::Text { name: "Region".into(), distinct: 50 })
///     .column(MockColumn::Measure { name: "Sales".into() });
/// cube.serve(&mock, 2, "cube");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MockCube {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rows: u64,
    columns: Vec<MockColumn>,
    generation: AtomicU32,
    /// A page request whose `qTop` is this row moves to the next generation and carries a
    /// `change` for the object (`u64::MAX`: never).
    change_at: AtomicU64,
    pages_served: AtomicU64,
}

impl MockCube {
    pub fn new(rows: u64) -> Self {
        MockCube {
            inner: Arc::new(Inner {
                rows,
                columns: Vec::new(),
                generation: AtomicU32::new(0),
                change_at: AtomicU64::new(u64::MAX),
                pages_served: AtomicU64::new(0),
            }),
        }
    }

    /// Adds a column (dimensions first, then measures, as in a hypercube's matrix).
    ///
    /// # Panics
    /// After the cube was cloned or served.
    pub fn column(mut self, column: MockColumn) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.columns.push(column),
            None => panic!("MockCube::column after the cube was shared"),
        }
        self
    }

    pub fn rows(&self) -> u64 {
        self.inner.rows
    }

    pub fn columns(&self) -> &[MockColumn] {
        &self.inner.columns
    }

    /// The state of the data: cells differ between generations.
    pub fn generation(&self) -> u32 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Moves the data to another state (as a selection or a reload would).
    pub fn set_generation(&self, generation: u32) {
        self.inner.generation.store(generation, Ordering::SeqCst);
    }

    /// When the page starting at row `top` is asked for (the first time), the data moves
    /// to the next generation before the page is computed, and the answer carries a
    /// `change` for the object: the cube changes between pages.
    pub fn change_at(&self, top: u64) {
        self.inner.change_at.store(top, Ordering::SeqCst);
    }

    /// Page requests answered so far.
    pub fn pages_served(&self) -> u64 {
        self.inner.pages_served.load(Ordering::SeqCst)
    }

    /// The cell at (`row`, `col`) in `generation`.
    pub fn cell(&self, generation: u32, row: u64, col: usize) -> MockCell {
        let prefix = if generation == 0 {
            String::new()
        } else {
            format!("g{generation} ")
        };
        match &self.inner.columns[col] {
            MockColumn::Text { name, distinct } => {
                if row % 97 == 96 {
                    return MockCell {
                        text: None,
                        num: f64::NAN,
                        elem: -2,
                    };
                }
                let k = (row % u64::from((*distinct).max(1))) as i32;
                MockCell {
                    text: Some(format!("{prefix}{name} {k}")),
                    num: f64::NAN,
                    elem: k,
                }
            }
            MockColumn::Date { .. } => {
                // 44927 is 2023-01-01.
                let serial = 44927 + (row % 3650) as i64 + i64::from(generation) * 365;
                MockCell {
                    text: Some(iso_date(serial)),
                    num: serial as f64,
                    elem: (row % 3650) as i32,
                }
            }
            MockColumn::Measure { .. } => {
                if row % 89 == 88 {
                    return MockCell {
                        text: Some("-".into()),
                        num: f64::NAN,
                        elem: 0,
                    };
                }
                let num = row as f64 * 0.1 + col as f64 / 3.0 + f64::from(generation) * 1000.0;
                MockCell {
                    text: Some(two_decimals(num)),
                    num,
                    elem: 0,
                }
            }
        }
    }

    /// The `GetLayout` result: `qHyperCube` with `qSize`, `qDimensionInfo` (tags, number
    /// formats) and `qMeasureInfo`.
    pub fn layout(&self, id: &str) -> Value {
        let mut dims = Vec::new();
        let mut measures = Vec::new();
        for c in &self.inner.columns {
            match c {
                MockColumn::Text { name, distinct } => dims.push(json!({
                    "qFallbackTitle": name, "qTags": ["$ascii", "$text"],
                    "qDimensionType": "D", "qNumFormat": {"qType": "U", "qnDec": 0},
                    "qCardinal": distinct, "qApprMaxGlyphCount": 12,
                })),
                MockColumn::Date { name } => dims.push(json!({
                    "qFallbackTitle": name,
                    "qTags": ["$numeric", "$integer", "$timestamp", "$date"],
                    "qDimensionType": "N", "qNumFormat": {"qType": "D", "qFmt": "YYYY-MM-DD"},
                })),
                MockColumn::Measure { name } => measures.push(json!({
                    "qFallbackTitle": name, "qNumFormat": {"qType": "F", "qnDec": 2},
                    "qMin": 0, "qMax": self.inner.rows as f64 * 0.1,
                })),
            }
        }
        json!({"qLayout": {
            "qInfo": {"qId": id, "qType": "table"},
            "qHyperCube": {
                "qSize": {"qcx": self.inner.columns.len(), "qcy": self.inner.rows},
                "qMode": "S",
                "qDimensionInfo": dims,
                "qMeasureInfo": measures,
                "qDataPages": [],
            }
        }})
    }

    /// The `GetHyperCubeData` result (`{"qDataPages":[…]}`) for a page, in `generation`,
    /// as JSON text; rows past the cube's end are left out, as the engine does.
    pub fn page_json(
        &self,
        generation: u32,
        top: u64,
        left: usize,
        width: usize,
        height: u64,
    ) -> String {
        let rows = self.inner.rows;
        let cols = self.inner.columns.len();
        let end = (top + height).min(rows);
        let right = (left + width).min(cols);
        let mut out = String::with_capacity(
            ((end.saturating_sub(top)) as usize) * (right - left.min(right)) * 64 + 128,
        );
        out.push_str("{\"qDataPages\":[{\"qMatrix\":[");
        let mut scratch = Vec::with_capacity(32);
        for r in top..end {
            if r > top {
                out.push(',');
            }
            out.push('[');
            for c in left..right {
                if c > left {
                    out.push(',');
                }
                self.write_cell(&mut out, &mut scratch, generation, r, c);
            }
            out.push(']');
        }
        let _ = write!(
            out,
            "],\"qTails\":[{{\"qUp\":0,\"qDown\":0}}],\"qArea\":{{\"qLeft\":{left},\"qTop\":{top},\"qWidth\":{},\"qHeight\":{}}}}}]}}",
            right - left.min(right),
            end.saturating_sub(top)
        );
        out
    }

    /// One cell's JSON, written without building the cell (serving a million rows must
    /// cost the benchmark's server little); the same values as [`cell`](Self::cell).
    fn write_cell(
        &self,
        out: &mut String,
        scratch: &mut Vec<u8>,
        generation: u32,
        row: u64,
        col: usize,
    ) {
        match &self.inner.columns[col] {
            MockColumn::Text { name, distinct } => {
                if row % 97 == 96 {
                    out.push_str("{\"qText\":\"-\",\"qNum\":\"NaN\",\"qElemNumber\":-2,\"qState\":\"O\",\"qIsNull\":true}");
                    return;
                }
                let k = row % u64::from((*distinct).max(1));
                out.push_str("{\"qText\":\"");
                if generation > 0 {
                    let _ = write!(out, "g{generation} ");
                }
                write_json_str_body(out, name);
                let _ = write!(
                    out,
                    " {k}\",\"qNum\":\"NaN\",\"qElemNumber\":{k},\"qState\":\"O\"}}"
                );
            }
            MockColumn::Date { .. } => {
                let serial = 44927 + (row % 3650) as i64 + i64::from(generation) * 365;
                out.push_str("{\"qText\":\"");
                write_iso_date(out, serial);
                let _ = write!(
                    out,
                    "\",\"qNum\":{serial},\"qElemNumber\":{},\"qState\":\"O\"}}",
                    row % 3650
                );
            }
            MockColumn::Measure { .. } => {
                if row % 89 == 88 {
                    out.push_str(
                        "{\"qText\":\"-\",\"qNum\":\"NaN\",\"qElemNumber\":0,\"qState\":\"L\"}",
                    );
                    return;
                }
                let num = row as f64 * 0.1 + col as f64 / 3.0 + f64::from(generation) * 1000.0;
                out.push_str("{\"qText\":\"");
                push_two_decimals(out, num);
                out.push_str("\",\"qNum\":");
                // serde_json's shortest round-trip form: much cheaper than `Display`'s.
                scratch.clear();
                let _ = serde_json::to_writer(&mut *scratch, &num);
                out.push_str(std::str::from_utf8(scratch).unwrap_or("0"));
                out.push_str(",\"qElemNumber\":0,\"qState\":\"L\"}");
            }
        }
    }

    /// The answer to a `GetHyperCubeData` request: its first page, in the current generation
    /// (after moving to the next one when the page starts at [`change_at`](Self::change_at)).
    pub fn answer(&self, req: &MockRequest, handle: i32) -> Reply {
        let page = req
            .param("qPages")
            .and_then(|p| p.get(0))
            .cloned()
            .unwrap_or(Value::Null);
        let num = |k: &str| page.get(k).and_then(Value::as_u64).unwrap_or(0);
        let (top, left, width, height) = (num("qTop"), num("qLeft"), num("qWidth"), num("qHeight"));
        if width * height > 10_000 {
            return Reply::error(7009, "", "Calculation pages too large");
        }
        let mut changed = false;
        if self
            .inner
            .change_at
            .compare_exchange(top, u64::MAX, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.inner.generation.fetch_add(1, Ordering::SeqCst);
            changed = true;
        }
        self.inner.pages_served.fetch_add(1, Ordering::SeqCst);
        let text = self.page_json(
            self.generation(),
            top,
            left as usize,
            width as usize,
            height,
        );
        let reply = Reply::raw_result(text);
        if changed {
            reply.with_change([handle])
        } else {
            reply
        }
    }

    /// Serves the cube on object `handle` (whose `qId` is `id`): `GetLayout` and
    /// `GetHyperCubeData`, each any number of times.
    pub fn serve(&self, mock: &MockEngine, handle: i32, id: &str) {
        self.serve_with_latency(mock, handle, id, None);
    }

    /// As [`serve`](Self::serve), each answer sent `latency` after its request arrived
    /// (answers overlap: a simulated round trip, not a slow engine).
    pub fn serve_with_latency(
        &self,
        mock: &MockEngine,
        handle: i32,
        id: &str,
        latency: Option<Duration>,
    ) {
        let cube = self.clone();
        let id = id.to_string();
        let layout = mock
            .expect("GetLayout")
            .on_handle(handle)
            .respond_with(move |_| Reply::result(cube.layout(&id)))
            .optional();
        let cube = self.clone();
        let data = mock
            .expect("GetHyperCubeData")
            .on_handle(handle)
            .respond_with(move |req| cube.answer(req, handle))
            .optional();
        if let Some(d) = latency {
            layout.delay(d);
            data.delay(d);
        }
    }
}

/// A measure's text: two decimals, from integers (float formatting with a precision is
/// what made serving slow).
fn two_decimals(num: f64) -> String {
    let mut s = String::new();
    push_two_decimals(&mut s, num);
    s
}

fn push_two_decimals(out: &mut String, num: f64) {
    let cents = (num * 100.0).round() as i64;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:02}", cents / 100, cents % 100);
}

/// A JSON string's characters, escaped (without the quotes).
fn write_json_str_body(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn iso_date(serial: i64) -> String {
    let mut s = String::new();
    write_iso_date(&mut s, serial);
    s
}

/// `YYYY-MM-DD` of a day serial (days since 1899-12-30), by the civil-from-days algorithm.
fn write_iso_date(out: &mut String, serial: i64) {
    let z = serial - 25569 + 719_468; // to days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_pages() {
        assert_eq!(iso_date(44927), "2023-01-01");
        assert_eq!(iso_date(25569), "1970-01-01");
        assert_eq!(iso_date(45351), "2024-02-29");
        let cube = MockCube::new(3)
            .column(MockColumn::Text {
                name: "R\"x".into(),
                distinct: 2,
            })
            .column(MockColumn::Measure { name: "M".into() });
        let page: Value = serde_json::from_str(&cube.page_json(0, 1, 0, 2, 10)).unwrap();
        let m = &page["qDataPages"][0]["qMatrix"];
        assert_eq!(m.as_array().unwrap().len(), 2);
        assert_eq!(m[0][0]["qText"], "R\"x 1");
        assert_eq!(m[1][1]["qNum"].as_f64(), Some(0.2 + 1.0 / 3.0));
        assert_eq!(page["qDataPages"][0]["qArea"]["qHeight"], 2);
        // The page's JSON says what `cell` says, in every generation, nulls included.
        let cube = MockCube::new(200)
            .column(MockColumn::Text {
                name: "T".into(),
                distinct: 7,
            })
            .column(MockColumn::Date { name: "D".into() })
            .column(MockColumn::Measure { name: "M".into() });
        for generation in [0, 2] {
            let page: Value =
                serde_json::from_str(&cube.page_json(generation, 0, 0, 3, 200)).unwrap();
            let m = &page["qDataPages"][0]["qMatrix"];
            for r in 0..200u64 {
                for c in 0..3 {
                    let want = cube.cell(generation, r, c);
                    let got = &m[r as usize][c];
                    let text = got["qText"].as_str().unwrap();
                    assert_eq!(want.text.as_deref().unwrap_or("-"), text);
                    assert_eq!(want.text.is_none(), got.get("qIsNull").is_some());
                    match got["qNum"].as_f64() {
                        Some(n) => assert_eq!(n.to_bits(), want.num.to_bits()),
                        None => assert!(want.num.is_nan() && got["qNum"] == "NaN"),
                    }
                    assert_eq!(got["qElemNumber"], want.elem);
                }
            }
        }
    }
}
