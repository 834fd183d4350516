//! Checking and reading archives. Without the identity: the signed sidecar, the
//! ciphertext's size, SHA-256 and per-block hashes (a changed byte is located to
//! its 1 MiB block), and the age header. With it: decryption (age authenticates
//! every 64 KiB chunk), the manifest's signature, and every member's SHA-256 and
//! row count, streamed to a visitor that may restore the rows as they pass.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ring::digest;
use serde::Serialize;

use super::BackupError;
use super::keys::Identities;
use super::manifest::{self, Manifest, Sidecar, TableEntry};
use crate::audit::checkpoint::PublicKey;

const MAX_MANIFEST: u64 = 64 << 20;

/// What the sidecar check found (nothing decrypted).
#[derive(Debug, Clone, Serialize)]
pub struct SidecarCheck {
    pub archive: PathBuf,
    pub backup_id: String,
    pub created_at: String,
    pub host: String,
    pub encryption: String,
    pub size: u64,
    pub signed_by: String,
    pub manifest_sha256: String,
    pub previous_manifest_sha256: Option<String>,
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Checks an encrypted file against its signed sidecar without decrypting it.
pub fn check_sidecar(path: &Path, trusted: &[PublicKey]) -> Result<SidecarCheck, BackupError> {
    let side_path = manifest::sidecar_path(path);
    if !side_path.exists() {
        return Err(BackupError::Archive(format!(
            "{} has no signed sidecar ({}); it is not a finished Holdfast backup",
            path.display(),
            side_path.display()
        )));
    }
    let sidecar = Sidecar::read(&side_path)?;
    let signed_by = sidecar.verify(trusted)?;
    let b = &sidecar.body;
    if b.archive != file_name(path) {
        return Err(BackupError::Forged(format!(
            "the sidecar vouches for {}, not for {}",
            b.archive,
            file_name(path)
        )));
    }
    let file = File::open(path).map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?;
    let actual = file
        .metadata()
        .map_err(|e| BackupError::Io(e.to_string()))?
        .len();
    // Every block against its signed hash, and the signed size: together they
    // fix every byte, so the whole-file SHA-256 (kept in the sidecar for
    // `sha256sum`) is not computed a second time here.
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; b.block_size.max(1)];
    let mut index = 0usize;
    loop {
        let n = read_full(&mut r, &mut buf).map_err(|e| BackupError::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        let got = hex::encode(digest::digest(&digest::SHA256, &buf[..n]));
        let start = index as u64 * b.block_size as u64;
        match b.block_sha256.get(index) {
            Some(want) if *want == got => {}
            Some(_) => {
                return Err(BackupError::Corrupt(format!(
                    "{}: bytes {}..{} (block {} of {}) differ from what was signed; the file was damaged or altered there",
                    path.display(),
                    start,
                    start + n as u64,
                    index + 1,
                    b.block_sha256.len()
                )));
            }
            None => {
                return Err(BackupError::Corrupt(format!(
                    "{}: the file is {actual} bytes, longer than the signed {} (bytes from {start} were added)",
                    path.display(),
                    b.size
                )));
            }
        }
        index += 1;
    }
    if actual != b.size || index != b.block_sha256.len() {
        return Err(BackupError::Corrupt(format!(
            "{}: the file is {actual} bytes but {} were signed: it was truncated",
            path.display(),
            b.size
        )));
    }
    // The header must be age's, and of the kind the sidecar says.
    let header = File::open(path).map_err(|e| BackupError::Io(e.to_string()))?;
    let dec = age::Decryptor::new_buffered(BufReader::new(header))
        .map_err(|e| BackupError::Archive(format!("not an age file: {e}")))?;
    if dec.is_scrypt() != (b.encryption == "passphrase") {
        return Err(BackupError::Forged(
            "the age header does not match the signed kind of encryption".into(),
        ));
    }
    Ok(SidecarCheck {
        archive: path.to_path_buf(),
        backup_id: b.backup_id.clone(),
        created_at: b.created_at.clone(),
        host: b.host.clone(),
        encryption: b.encryption.clone(),
        size: b.size,
        signed_by,
        manifest_sha256: b.manifest_sha256.clone(),
        previous_manifest_sha256: b.previous_manifest_sha256.clone(),
    })
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Receives the archive's contents as they are decrypted and checked.
pub trait Visitor {
    /// Called once the manifest's signature is verified, before any table.
    fn manifest(&mut self, manifest: &Manifest) -> Result<(), BackupError>;
    /// Reads (some of) a table's JSON lines; the reader checks the member's hash
    /// and row count after this returns.
    fn table(&mut self, entry: &TableEntry, lines: &mut dyn BufRead) -> Result<(), BackupError>;
}

/// A visitor that only checks (the reader already hashes every member).
pub struct CheckOnly;

impl Visitor for CheckOnly {
    fn manifest(&mut self, _: &Manifest) -> Result<(), BackupError> {
        Ok(())
    }
    fn table(&mut self, _: &TableEntry, _: &mut dyn BufRead) -> Result<(), BackupError> {
        Ok(())
    }
}

/// Counts decrypted bytes, so a failure can say where it happened.
struct Counting<R> {
    inner: R,
    at: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at.set(self.at.get() + n as u64);
        Ok(n)
    }
}

/// Hashes a member as it is read, counting lines.
struct Member<R> {
    inner: R,
    ctx: digest::Context,
    bytes: u64,
    lines: u64,
}

impl<R: Read> Read for Member<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ctx.update(&buf[..n]);
        self.bytes += n as u64;
        self.lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        Ok(n)
    }
}

fn damaged(e: &io::Error, at: u64, member: &str) -> BackupError {
    BackupError::Corrupt(format!(
        "decryption failed after {at} bytes of plaintext (64 KiB chunk {}), inside {member}: {e}. The file was damaged or altered there (run verify without --identity to locate the changed block)",
        at / 65536
    ))
}

fn next<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    at: &Cell<u64>,
    want: &str,
) -> Result<tar::Entry<'a, R>, BackupError> {
    let entry = entries
        .next()
        .ok_or_else(|| BackupError::Archive(format!("the archive ends before {want}")))?
        .map_err(|e| damaged(&e, at.get(), want))?;
    let name = entry
        .path()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name != want {
        return Err(BackupError::Archive(format!(
            "expected member {want}, found {name}"
        )));
    }
    Ok(entry)
}

/// Decrypts and checks the whole archive, feeding `visitor`. `expected_manifest`
/// is the manifest hash a verified sidecar vouches for, when there is one.
pub fn read_archive(
    path: &Path,
    identities: &Identities,
    trusted: &[PublicKey],
    expected_manifest: Option<&str>,
    visitor: &mut dyn Visitor,
) -> Result<Manifest, BackupError> {
    let file = File::open(path).map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?;
    let dec = age::Decryptor::new_buffered(BufReader::with_capacity(1 << 20, file))
        .map_err(|e| BackupError::Archive(format!("not an age file: {e}")))?;
    let stream = dec
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => BackupError::Keys(
                "none of the given identities can decrypt this archive (wrong identity)".into(),
            ),
            other => BackupError::Keys(format!("cannot decrypt: {other}")),
        })?;
    let at = Rc::new(Cell::new(0u64));
    let counting = Counting {
        inner: stream,
        at: at.clone(),
    };
    let mut archive = tar::Archive::new(counting);
    let mut entries = archive
        .entries()
        .map_err(|e| damaged(&e, at.get(), "the tar header"))?;
    let mut manifest_json = Vec::new();
    next(&mut entries, &at, "manifest.json")?
        .take(MAX_MANIFEST)
        .read_to_end(&mut manifest_json)
        .map_err(|e| damaged(&e, at.get(), "manifest.json"))?;
    let mut sig_json = Vec::new();
    next(&mut entries, &at, "manifest.sig")?
        .take(1 << 16)
        .read_to_end(&mut sig_json)
        .map_err(|e| damaged(&e, at.get(), "manifest.sig"))?;
    let sig: manifest::Signature = serde_json::from_slice(&sig_json)
        .map_err(|e| BackupError::Archive(format!("manifest.sig: {e}")))?;
    let manifest = manifest::verify_manifest(trusted, &manifest_json, &sig)?;
    if let Some(want) = expected_manifest
        && manifest::sha256_hex(&manifest_json) != want
    {
        return Err(BackupError::Forged(
            "the manifest inside differs from the one the signed sidecar vouches for".into(),
        ));
    }
    visitor.manifest(&manifest)?;
    for t in &manifest.tables {
        let entry = next(&mut entries, &at, &t.member)?;
        let mut member = Member {
            inner: entry,
            ctx: digest::Context::new(&digest::SHA256),
            bytes: 0,
            lines: 0,
        };
        {
            let mut lines = BufReader::with_capacity(256 * 1024, &mut member);
            let visited = visitor.table(t, &mut lines);
            // Whatever the visitor left is still read and hashed.
            io::copy(&mut lines, &mut io::sink()).map_err(|e| damaged(&e, at.get(), &t.member))?;
            if let Err(e) = visited {
                // A failed read inside the visitor is the damage, not its symptom.
                return Err(match e {
                    BackupError::Corrupt(msg) => {
                        damaged(&io::Error::other(msg), at.get(), &t.member)
                    }
                    other => other,
                });
            }
        }
        let sha = hex::encode(member.ctx.finish());
        if sha != t.sha256 || member.bytes != t.bytes {
            return Err(BackupError::Corrupt(format!(
                "member {} does not match the signed manifest (SHA-256 or size differs)",
                t.member
            )));
        }
        if member.lines != t.rows {
            return Err(BackupError::Corrupt(format!(
                "member {} has {} rows, the manifest says {}",
                t.member, member.lines, t.rows
            )));
        }
    }
    if let Some(extra) = entries.next() {
        let name = extra
            .ok()
            .and_then(|e| e.path().ok().map(|p| p.to_string_lossy().into_owned()))
            .unwrap_or_default();
        if !name.is_empty() {
            return Err(BackupError::Archive(format!(
                "member {name} is not in the manifest"
            )));
        }
    }
    // Read to the very end, so age checks the final chunk (a truncated file fails).
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink())
        .map_err(|e| damaged(&e, at.get(), "the end of the archive"))?;
    Ok(manifest)
}

/// Identities from a passphrase (the offline copy).
pub fn passphrase_identity(p: age::secrecy::SecretString) -> Identities {
    vec![Box::new(age::scrypt::Identity::new(p))]
}
