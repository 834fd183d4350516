//! Writing one encrypted file to several destination directories at once: each
//! gets a hidden temporary file, fsynced and renamed into place only when whole,
//! so a crash leaves at most a `.holdfast-tmp-*` file that `list` never shows.
//! A destination that fails (full disk, gone mount) is dropped and reported; the
//! others carry on.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ring::digest;

use super::manifest::BLOCK;

pub const TMP_PREFIX: &str = ".holdfast-tmp-";

struct Dest {
    dir: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
    error: Option<String>,
}

/// The outcome for one destination directory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct DestOutcome {
    pub dir: PathBuf,
    pub error: Option<String>,
}

pub struct Fanout {
    name: String,
    dests: Vec<Dest>,
    total: digest::Context,
    block: digest::Context,
    in_block: usize,
    blocks: Vec<String>,
    pub size: u64,
}

fn describe(e: &io::Error) -> String {
    if e.raw_os_error() == Some(28) {
        "the disk is full (no space left on device)".to_string()
    } else {
        e.to_string()
    }
}

impl Fanout {
    /// Opens a temporary file for `name` in every directory (creating missing
    /// directories, owner-only).
    pub fn open(dirs: &[PathBuf], name: &str) -> Fanout {
        let dests = dirs
            .iter()
            .map(|dir| {
                let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
                let opened = crate::files::private_dir(dir).and_then(|_| {
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&tmp)
                });
                match opened {
                    Ok(f) => Dest {
                        dir: dir.clone(),
                        tmp,
                        file: Some(BufWriter::with_capacity(256 * 1024, f)),
                        error: None,
                    },
                    Err(e) => Dest {
                        dir: dir.clone(),
                        tmp,
                        file: None,
                        error: Some(format!(
                            "cannot write to {}: {}",
                            dir.display(),
                            describe(&e)
                        )),
                    },
                }
            })
            .collect();
        Fanout {
            name: name.to_string(),
            dests,
            total: digest::Context::new(&digest::SHA256),
            block: digest::Context::new(&digest::SHA256),
            in_block: 0,
            blocks: Vec::new(),
            size: 0,
        }
    }

    fn fail(d: &mut Dest, e: &io::Error) {
        d.error = Some(format!("writing to {}: {}", d.dir.display(), describe(e)));
        d.file = None;
        let _ = fs::remove_file(&d.tmp);
    }

    fn all_failed(&self) -> io::Error {
        let why: Vec<String> = self.dests.iter().filter_map(|d| d.error.clone()).collect();
        io::Error::other(format!(
            "no backup destination could be written: {}",
            why.join("; ")
        ))
    }

    /// Syncs and renames the file into place in every destination still alive;
    /// returns the SHA-256 of the whole file and of each block.
    pub fn finish(mut self) -> (String, Vec<String>, Vec<DestOutcome>) {
        if self.in_block > 0 {
            let b = std::mem::replace(&mut self.block, digest::Context::new(&digest::SHA256));
            self.blocks.push(hex::encode(b.finish()));
        }
        for d in &mut self.dests {
            let Some(mut f) = d.file.take() else { continue };
            let done = f
                .flush()
                .and_then(|_| f.get_ref().sync_all())
                .and_then(|_| fs::rename(&d.tmp, d.dir.join(&self.name)))
                .and_then(|_| sync_dir(&d.dir));
            if let Err(e) = done {
                Self::fail(d, &e);
            }
        }
        let sha = hex::encode(self.total.clone().finish());
        let outcomes = self
            .dests
            .iter()
            .map(|d| DestOutcome {
                dir: d.dir.clone(),
                error: d.error.clone(),
            })
            .collect();
        (sha, std::mem::take(&mut self.blocks), outcomes)
    }

    /// Directories that have the whole file now.
    pub fn written(outcomes: &[DestOutcome]) -> Vec<PathBuf> {
        outcomes
            .iter()
            .filter(|o| o.error.is_none())
            .map(|o| o.dir.clone())
            .collect()
    }
}

/// A run that stops before `finish` (an error, a panic) leaves no temporary file
/// behind; only a killed process does, and `list` ignores those.
impl Drop for Fanout {
    fn drop(&mut self) {
        for d in &mut self.dests {
            if d.file.take().is_some() {
                let _ = fs::remove_file(&d.tmp);
            }
        }
    }
}

impl Write for Fanout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut live = 0;
        for d in &mut self.dests {
            if let Some(f) = d.file.as_mut() {
                match f.write_all(buf) {
                    Ok(()) => live += 1,
                    Err(e) => Self::fail(d, &e),
                }
            }
        }
        if live == 0 {
            return Err(self.all_failed());
        }
        self.total.update(buf);
        self.size += buf.len() as u64;
        let mut rest = buf;
        while !rest.is_empty() {
            let take = (BLOCK - self.in_block).min(rest.len());
            self.block.update(&rest[..take]);
            self.in_block += take;
            rest = &rest[take..];
            if self.in_block == BLOCK {
                let b = std::mem::replace(&mut self.block, digest::Context::new(&digest::SHA256));
                self.blocks.push(hex::encode(b.finish()));
                self.in_block = 0;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        for d in &mut self.dests {
            if let Some(f) = d.file.as_mut()
                && let Err(e) = f.flush()
            {
                Self::fail(d, &e);
            }
        }
        if self.dests.iter().all(|d| d.file.is_none()) {
            return Err(self.all_failed());
        }
        Ok(())
    }
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes a small file atomically (temporary name, fsync, rename, fsync dir).
pub fn write_atomic(dir: &Path, name: &str, content: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A writer that hashes and counts what passes through.
pub struct Hashing<W> {
    pub inner: W,
    ctx: digest::Context,
    pub bytes: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            ctx: digest::Context::new(&digest::SHA256),
            bytes: 0,
        }
    }

    pub fn finish(self) -> (W, String) {
        (self.inner, hex::encode(self.ctx.finish()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.ctx.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the same bytes to two writers (the recipients' copy and the
/// passphrase copy come from one pass over the data).
pub struct Tee<A, B> {
    pub a: A,
    pub b: Option<B>,
}

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.a.write_all(buf)?;
        if let Some(b) = self.b.as_mut() {
            b.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.a.flush()?;
        if let Some(b) = self.b.as_mut() {
            b.flush()?;
        }
        Ok(())
    }
}
