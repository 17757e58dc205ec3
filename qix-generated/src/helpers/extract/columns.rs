//! What an extracted table holds: its columns, typed from the layout's `qDimensionInfo` and
//! `qMeasureInfo`, and the fields a file gets from them.

use crate::types::{
    FieldAttrType, HyperCube, NxCell, NxDimensionInfo, NxHypercubeMode, NxMeasureInfo,
};

/// What a column's values are, from the engine's tags (`$numeric`, `$text`, `$date`,
/// `$timestamp`, …) and number format (`qNumFormat.qType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// Text only (`$text`/`$ascii` without `$numeric`): the number is always NaN.
    Text,
    /// Numbers with their formatted text (`$numeric` with an integer, real, fixed or money
    /// format; every measure without a date or time format).
    Numeric,
    /// Values that may be text, number or both (a `$numeric` dimension without a number
    /// format, such as month names over month numbers, or a field without tags).
    Dual,
    /// Dates (`$date`, or a date format): the number is the day serial (days since
    /// 1899-12-30), the text the formatted date.
    Date,
    /// Timestamps (`$timestamp`, or a timestamp format): the number is a day serial with a
    /// fraction of a day.
    Timestamp,
    /// Times of day (a time format): the number is the fraction of a day.
    Time,
    /// Durations (an interval format): the number is in days.
    Interval,
}

impl ColumnKind {
    /// Whether the column's cells carry numbers worth keeping.
    pub fn has_numbers(self) -> bool {
        self != ColumnKind::Text
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Numeric => "numeric",
            ColumnKind::Dual => "dual",
            ColumnKind::Date => "date",
            ColumnKind::Timestamp => "timestamp",
            ColumnKind::Time => "time",
            ColumnKind::Interval => "interval",
        }
    }

    fn of_dimension(info: &NxDimensionInfo) -> ColumnKind {
        let tag = |t: &str| info.tags.iter().any(|x| x == t);
        let format = info.num_format.as_ref().and_then(|f| f.r#type.clone());
        if let Some(kind) = format.as_ref().and_then(time_kind) {
            return kind;
        }
        if tag("$date") {
            return ColumnKind::Date;
        }
        if tag("$timestamp") {
            return ColumnKind::Timestamp;
        }
        if tag("$numeric") {
            return match format {
                Some(
                    FieldAttrType::Integer
                    | FieldAttrType::Real
                    | FieldAttrType::Fix
                    | FieldAttrType::Money,
                ) => ColumnKind::Numeric,
                // Without a number format the texts may be anything ("okt" over 10).
                _ => ColumnKind::Dual,
            };
        }
        if tag("$text") || tag("$ascii") {
            return ColumnKind::Text;
        }
        // No tags: a field of mixed values.
        ColumnKind::Dual
    }

    fn of_measure(info: &NxMeasureInfo) -> ColumnKind {
        info.num_format
            .as_ref()
            .and_then(|f| f.r#type.as_ref())
            .and_then(time_kind)
            .unwrap_or(ColumnKind::Numeric)
    }
}

fn time_kind(format: &FieldAttrType) -> Option<ColumnKind> {
    match format {
        FieldAttrType::Date => Some(ColumnKind::Date),
        FieldAttrType::Timestamp => Some(ColumnKind::Timestamp),
        FieldAttrType::Time => Some(ColumnKind::Time),
        FieldAttrType::Interval => Some(ColumnKind::Interval),
        _ => None,
    }
}

/// Where a column comes from: the index of its dimension or measure in the hypercube.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnSource {
    Dimension(usize),
    Measure(usize),
}

/// One column of the cube's matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The engine's title (`qFallbackTitle`), made unique within the table (a second
    /// "Sales" is "Sales (2)").
    pub name: String,
    pub kind: ColumnKind,
    pub source: ColumnSource,
    /// The engine's tags (`qTags`; dimensions only).
    pub tags: Vec<String>,
}

/// The table an extraction reads: its columns in matrix order (dimensions, then
/// measures), its size, and which snapshot of the data it is (0, then 1, 2, … after each
/// restart because the data changed).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    /// Rows the engine says the cube has (`qSize.qcy`).
    pub rows: u64,
    /// Rows this extraction reads: `rows`, or fewer with a limit.
    pub planned_rows: u64,
    /// The cube's mode (`qMode`; straight when the layout does not say).
    pub mode: NxHypercubeMode,
    pub snapshot: u32,
}

impl Table {
    /// The table of a hypercube layout.
    pub fn of_cube(cube: &HyperCube) -> Table {
        let mut columns: Vec<Column> = Vec::new();
        for (i, d) in cube.dimension_info.iter().enumerate() {
            columns.push(Column {
                name: title(d.fallback_title.as_deref(), "dimension", i),
                kind: ColumnKind::of_dimension(d),
                source: ColumnSource::Dimension(i),
                tags: d.tags.clone(),
            });
        }
        for (i, m) in cube.measure_info.iter().enumerate() {
            columns.push(Column {
                name: title(m.fallback_title.as_deref(), "measure", i),
                kind: ColumnKind::of_measure(m),
                source: ColumnSource::Measure(i),
                tags: Vec::new(),
            });
        }
        unique_names(&mut columns);
        let rows = cube
            .size
            .as_ref()
            .and_then(|s| s.cy)
            .map_or(0, |n| n.max(0) as u64);
        Table {
            columns,
            rows,
            planned_rows: rows,
            mode: cube.mode.clone().unwrap_or(NxHypercubeMode::Straight),
            snapshot: 0,
        }
    }

    /// The fields a file (CSV, Parquet, Arrow) gets, in order: per dimension its text,
    /// and its number when its kind has numbers (`"<name> (num)"`); per measure its
    /// number.
    pub fn fields(&self) -> Vec<Field> {
        let mut out = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            match c.source {
                ColumnSource::Dimension(_) => {
                    out.push(Field {
                        name: c.name.clone(),
                        column: i,
                        value: FieldValue::Text,
                    });
                    if c.kind.has_numbers() {
                        out.push(Field {
                            name: format!("{} (num)", c.name),
                            column: i,
                            value: FieldValue::Number,
                        });
                    }
                }
                ColumnSource::Measure(_) => out.push(Field {
                    name: c.name.clone(),
                    column: i,
                    value: FieldValue::Number,
                }),
            }
        }
        out
    }
}

/// A field of an output file: one value of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// Index into [`Table::columns`] (and so into each row of the matrix).
    pub column: usize,
    pub value: FieldValue,
}

/// Which value of a cell a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue {
    /// `qText`; missing for the engine's null cells.
    Text,
    /// `qNum`; missing when it is NaN (no number) or absent.
    Number,
}

/// The text of a cell, `None` for the engine's nulls (`qIsNull`, element number -2).
pub fn cell_text(cell: &NxCell) -> Option<&str> {
    if cell.is_null == Some(true) || cell.elem_number == Some(-2) {
        return None;
    }
    cell.text.as_deref()
}

/// The number of a cell, `None` when it has none (NaN, or absent).
pub fn cell_number(cell: &NxCell) -> Option<f64> {
    cell.num.filter(|n| !n.is_nan())
}

fn title(title: Option<&str>, what: &str, index: usize) -> String {
    match title {
        Some(t) if !t.trim().is_empty() => t.to_string(),
        _ => format!("{what} {}", index + 1),
    }
}

/// Later duplicates get " (2)", " (3)", … (files need unique field names).
fn unique_names(columns: &mut [Column]) {
    let mut seen = std::collections::HashSet::new();
    for c in columns.iter_mut() {
        if seen.insert(c.name.clone()) {
            continue;
        }
        let mut n = 2;
        let name = loop {
            let candidate = format!("{} ({n})", c.name);
            if !seen.contains(&candidate) {
                break candidate;
            }
            n += 1;
        };
        seen.insert(name.clone());
        c.name = name;
    }
}
