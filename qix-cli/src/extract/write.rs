//! Where `qix extract` writes: the output file (under a temporary name until it is
//! complete) or stdout, and the CSV, Parquet and Arrow writers.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use qix_generated::helpers::extract::{FieldValue, Table, cell_number, cell_text};
use qix_generated::types::NxDataPage;

use super::Format;
use crate::{CliResult, Failure};

type Sink = Box<dyn Write + Send>;
pub type WriteError = Box<dyn std::error::Error + Send + Sync>;

/// The output: a file written under a temporary name beside the target, or stdout.
pub enum Output {
    Stdout,
    File {
        target: PathBuf,
        temp: PathBuf,
        file: File,
        /// Renamed (committed, or kept on failure): nothing to remove on drop.
        done: bool,
    },
}

impl Output {
    pub fn create(target: &Path) -> CliResult<Output> {
        if target == Path::new("-") {
            return Ok(Output::Stdout);
        }
        let name = target
            .file_name()
            .ok_or_else(|| Failure(format!("{}: not a file name", target.display())))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".qix-partial-{}", std::process::id()));
        let temp = target.with_file_name(temp_name);
        let file = File::create(&temp)
            .map_err(|e| Failure(format!("cannot create {}: {e}", temp.display())))?;
        Ok(Output::File {
            target: target.to_path_buf(),
            temp,
            file,
            done: false,
        })
    }

    /// A writer's sink: the file (buffered) or stdout.
    pub fn file(&mut self) -> CliResult<Sink> {
        match self {
            Output::Stdout => Ok(Box::new(std::io::stdout())),
            Output::File { file, temp, .. } => {
                let f = file
                    .try_clone()
                    .map_err(|e| Failure(format!("{}: {e}", temp.display())))?;
                Ok(Box::new(BufWriter::with_capacity(1 << 20, f)))
            }
        }
    }

    /// Empties the file for a new start (the data changed). The previous writer must be
    /// dropped first.
    pub fn restart(&mut self) -> CliResult {
        match self {
            Output::Stdout => Err(Failure(
                "the data changed during the extraction and rows already went to stdout; \
                 write to a file (-o FILE) to start over automatically, or run again"
                    .into(),
            )),
            Output::File { file, temp, .. } => file
                .set_len(0)
                .and_then(|()| file.rewind())
                .map_err(|e| Failure(format!("cannot empty {}: {e}", temp.display()))),
        }
    }

    /// Names a write failure after the file.
    pub fn write_error(&self, e: WriteError) -> Failure {
        match self {
            Output::Stdout => Failure(format!("cannot write to stdout: {e}")),
            Output::File { target, .. } => Failure(format!("writing {}: {e}", target.display())),
        }
    }

    /// The output is complete: the file gets its name.
    pub fn commit(mut self) -> CliResult {
        match &mut self {
            Output::Stdout => Ok(()),
            Output::File {
                target,
                temp,
                file,
                done,
            } => {
                file.sync_all()
                    .and_then(|()| std::fs::rename(&*temp, &*target))
                    .map_err(|e| Failure(format!("cannot write {}: {e}", target.display())))?;
                *done = true;
                Ok(())
            }
        }
    }

    /// The extraction failed: the partial file is removed, or with `keep` renamed to the
    /// target (whose path is returned).
    pub fn abandon(mut self, keep: bool) -> Option<PathBuf> {
        match &mut self {
            Output::File {
                target, temp, done, ..
            } if keep => {
                if std::fs::rename(&*temp, &*target).is_ok() {
                    *done = true;
                    return Some(target.clone());
                }
                None
            }
            _ => None,
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Output::File {
            temp, done: false, ..
        } = self
        {
            let _ = std::fs::remove_file(temp);
        }
    }
}

/// A writer of one format, for one table.
pub enum Writer {
    Csv(Csv),
    #[cfg(feature = "arrow")]
    Parquet(arrow_out::Parquet),
    #[cfg(feature = "arrow")]
    Arrow(arrow_out::Ipc),
}

impl Writer {
    pub fn new(format: Format, sink: Sink, table: &Table, row_group: usize) -> CliResult<Writer> {
        let _ = row_group;
        match format {
            Format::Csv => Csv::new(sink, table).map(Writer::Csv),
            #[cfg(feature = "arrow")]
            Format::Parquet => arrow_out::Parquet::new(sink, table, row_group).map(Writer::Parquet),
            #[cfg(feature = "arrow")]
            Format::Arrow => arrow_out::Ipc::new(sink, table).map(Writer::Arrow),
            #[cfg(not(feature = "arrow"))]
            _ => Err(Failure(
                "built without the `arrow` feature: CSV only".into(),
            )),
        }
    }

    pub fn write_page(&mut self, page: &NxDataPage) -> Result<(), WriteError> {
        match self {
            Writer::Csv(w) => w.write_page(page),
            #[cfg(feature = "arrow")]
            Writer::Parquet(w) => w.write_page(page),
            #[cfg(feature = "arrow")]
            Writer::Arrow(w) => w.write_page(page),
        }
    }

    pub fn finish(self) -> Result<(), WriteError> {
        match self {
            Writer::Csv(w) => w.finish(),
            #[cfg(feature = "arrow")]
            Writer::Parquet(w) => w.finish(),
            #[cfg(feature = "arrow")]
            Writer::Arrow(w) => w.finish(),
        }
    }
}

/// RFC 4180 CSV (the `csv` crate): a header of the table's fields, then one record per
/// row. Texts as the engine formats them; numbers in the shortest form that reads back
/// to the same `f64` (`inf`/`-inf` for infinities); empty for nulls and NaN.
pub struct Csv {
    out: csv::Writer<Sink>,
    fields: Vec<(usize, FieldValue)>,
    number: Vec<u8>,
}

impl Csv {
    fn new(sink: Sink, table: &Table) -> CliResult<Csv> {
        let fields = table.fields();
        let mut out = csv::WriterBuilder::new()
            .buffer_capacity(1 << 16)
            .from_writer(sink);
        out.write_record(fields.iter().map(|f| f.name.as_str()))
            .map_err(|e| Failure(format!("cannot write the CSV header: {e}")))?;
        Ok(Csv {
            out,
            fields: fields.iter().map(|f| (f.column, f.value)).collect(),
            number: Vec::with_capacity(32),
        })
    }

    fn write_page(&mut self, page: &NxDataPage) -> Result<(), WriteError> {
        for row in &page.matrix {
            for &(column, value) in &self.fields {
                let cell = row.get(column);
                match value {
                    FieldValue::Text => {
                        let text = cell.and_then(cell_text).unwrap_or("");
                        self.out.write_field(text)?;
                    }
                    FieldValue::Number => {
                        self.number.clear();
                        match cell.and_then(cell_number) {
                            // serde_json writes the shortest text that parses back to the
                            // same bits.
                            Some(n) if n.is_finite() => {
                                serde_json::to_writer(&mut self.number, &n)?
                            }
                            Some(n) if n > 0.0 => self.number.extend_from_slice(b"inf"),
                            Some(_) => self.number.extend_from_slice(b"-inf"),
                            None => {}
                        }
                        self.out.write_field(&self.number)?;
                    }
                }
            }
            self.out.write_record(None::<&[u8]>)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), WriteError> {
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(feature = "arrow")]
mod arrow_out {
    use arrow_ipc::writer::{DictionaryHandling, FileWriter, IpcWriteOptions};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    use qix_generated::helpers::extract::Table;
    use qix_generated::helpers::extract::arrow::Batcher;
    use qix_generated::types::NxDataPage;

    use super::{Sink, WriteError};
    use crate::{CliResult, Failure};

    /// Parquet (Snappy), the table's Arrow schema stored in the file.
    pub struct Parquet {
        batcher: Batcher,
        out: ArrowWriter<Sink>,
    }

    impl Parquet {
        pub fn new(sink: Sink, table: &Table, row_group: usize) -> CliResult<Self> {
            let batcher = Batcher::new(table);
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(row_group.max(1)))
                .build();
            let out = ArrowWriter::try_new(sink, batcher.schema().clone(), Some(props))
                .map_err(|e| Failure(format!("cannot start the Parquet file: {e}")))?;
            Ok(Parquet { batcher, out })
        }

        pub fn write_page(&mut self, page: &NxDataPage) -> Result<(), WriteError> {
            self.batcher.push_page(page);
            let batch = self.batcher.finish()?;
            self.out.write(&batch)?;
            Ok(())
        }

        pub fn finish(self) -> Result<(), WriteError> {
            let mut sink = self.out.into_inner()?;
            sink.flush()?;
            Ok(())
        }
    }

    /// An Arrow IPC file: one dictionary per dimension, extended by delta batches (IPC
    /// files allow no replacement), so the distinct texts stay in memory until the end.
    pub struct Ipc {
        batcher: Batcher,
        out: FileWriter<Sink>,
    }

    impl Ipc {
        pub fn new(sink: Sink, table: &Table) -> CliResult<Self> {
            let batcher = Batcher::new(table).keep_dictionaries(true);
            let options =
                IpcWriteOptions::default().with_dictionary_handling(DictionaryHandling::Delta);
            let out = FileWriter::try_new_with_options(sink, batcher.schema(), options)
                .map_err(|e| Failure(format!("cannot start the Arrow file: {e}")))?;
            Ok(Ipc { batcher, out })
        }

        pub fn write_page(&mut self, page: &NxDataPage) -> Result<(), WriteError> {
            self.batcher.push_page(page);
            let batch = self.batcher.finish()?;
            self.out.write(&batch)?;
            Ok(())
        }

        pub fn finish(mut self) -> Result<(), WriteError> {
            self.out.finish()?;
            let mut sink = self.out.into_inner()?;
            sink.flush()?;
            Ok(())
        }
    }

    use std::io::Write as _;
}
