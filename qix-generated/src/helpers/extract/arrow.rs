//! Extracted rows as Arrow `RecordBatch`es (feature `arrow`).
//!
//! The fields are [`Table::fields`]: per dimension its text as a dictionary-encoded string
//! (`Dictionary(Int32, Utf8)`: a dimension repeats few distinct values) and, when its kind
//! has numbers, its number as `Float64` named `"<name> (num)"`; per measure its number as
//! `Float64`. Engine nulls and NaN numbers are Arrow nulls; every other number keeps its
//! bits. Each field carries `qix.kind` (`text`, `numeric`, `dual`, `date`, `timestamp`,
//! `time`, `interval`) and `qix.source` (`dimension N`, `measure N`, from 1) as metadata.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringDictionaryBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field as ArrowField, Schema, SchemaRef};
use futures_util::StreamExt;

use super::{
    ColumnSource, Event, ExtractError, Extraction, FieldValue, Page, Table, cell_number, cell_text,
};
use crate::types::{NxCell, NxDataPage};

/// The Arrow schema of a table's fields.
pub fn schema(table: &Table) -> SchemaRef {
    let fields: Vec<ArrowField> = table
        .fields()
        .into_iter()
        .map(|f| {
            let column = &table.columns[f.column];
            let data_type = match f.value {
                FieldValue::Text => {
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
                }
                FieldValue::Number => DataType::Float64,
            };
            let source = match column.source {
                ColumnSource::Dimension(i) => format!("dimension {}", i + 1),
                ColumnSource::Measure(i) => format!("measure {}", i + 1),
            };
            ArrowField::new(f.name, data_type, true).with_metadata(HashMap::from([
                ("qix.kind".to_string(), column.kind.as_str().to_string()),
                ("qix.source".to_string(), source),
            ]))
        })
        .collect();
    Arc::new(Schema::new(fields))
}

enum Builder {
    Text(StringDictionaryBuilder<Int32Type>),
    Number(Float64Builder),
}

/// Rows in, record batches out: collects rows (of one table) until [`finish`](Self::finish).
pub struct Batcher {
    schema: SchemaRef,
    /// (column index, builder) per field.
    builders: Vec<(usize, Builder)>,
    rows: usize,
    keep_dictionaries: bool,
}

impl Batcher {
    pub fn new(table: &Table) -> Self {
        let builders = table
            .fields()
            .into_iter()
            .map(|f| {
                let b = match f.value {
                    FieldValue::Text => Builder::Text(StringDictionaryBuilder::new()),
                    FieldValue::Number => Builder::Number(Float64Builder::new()),
                };
                (f.column, b)
            })
            .collect();
        Batcher {
            schema: schema(table),
            builders,
            rows: 0,
            keep_dictionaries: false,
        }
    }

    /// Keeps each dimension's dictionary across batches, so that each batch's dictionary
    /// extends the one before (what an Arrow IPC file needs: one dictionary per field,
    /// written as deltas). The distinct texts then stay in memory until the batcher is
    /// dropped; by default each batch has a dictionary of its own.
    pub fn keep_dictionaries(mut self, keep: bool) -> Self {
        self.keep_dictionaries = keep;
        self
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows collected since the last batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds a row of cells in column order; a missing cell is null.
    pub fn push_row(&mut self, cells: &[NxCell]) {
        for (column, b) in &mut self.builders {
            let cell = cells.get(*column);
            match b {
                Builder::Text(b) => match cell.and_then(cell_text) {
                    Some(t) => {
                        b.append_value(t);
                    }
                    None => b.append_null(),
                },
                Builder::Number(b) => b.append_option(cell.and_then(cell_number)),
            }
        }
        self.rows += 1;
    }

    /// Adds every row of a data page.
    pub fn push_page(&mut self, page: &NxDataPage) {
        for row in &page.matrix {
            self.push_row(row);
        }
    }

    /// The rows collected so far as a batch; the batcher starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let keep = self.keep_dictionaries;
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|(_, b)| -> ArrayRef {
                match b {
                    Builder::Text(b) if keep => Arc::new(b.finish_preserve_values()),
                    Builder::Text(b) => Arc::new(b.finish()),
                    Builder::Number(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), columns)
    }
}

/// One record batch per page of `pages`; a new [`Event::Begin`] (a restart) starts a new
/// schema.
pub fn batches(pages: Extraction<Page<NxDataPage>>) -> Extraction<RecordBatch> {
    pages
        .scan(None::<Batcher>, |batcher, item| {
            let out = match item {
                Ok(Event::Begin(table)) => {
                    *batcher = Some(Batcher::new(&table));
                    Ok(Event::Begin(table))
                }
                Ok(Event::Data(page)) => match batcher.as_mut() {
                    Some(b) => {
                        b.push_page(&page.data);
                        b.finish().map(Event::Data).map_err(|e| {
                            ExtractError::Invalid(format!("building a record batch: {e}"))
                        })
                    }
                    None => Err(ExtractError::Invalid("a page before its table".into())),
                },
                Ok(Event::End(s)) => Ok(Event::End(s)),
                Err(e) => Err(e),
            };
            std::future::ready(Some(out))
        })
        .boxed()
}
