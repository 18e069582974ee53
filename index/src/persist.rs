//! Snapshot format (version 1, little-endian).
//!
//! ```text
//! header  128 bytes: magic "MLIDXHNS", version u32, header_len u32, dims,
//!         metric, m, m0, ef_construction, ef_search (u32 each), seed u64,
//!         exact_filter_threshold u64, filter_fallback_factor f32,
//!         max_tombstone_ratio f32, nodes u64, deleted u64, entry u32,
//!         entry_level u32, upper_len u64, commit_seq u64, insert_counter u64,
//!         zero padding, crc32 of bytes 0..124
//! section tag u32, byte length u64, payload, crc32 of (tag, length, payload)
//!         1 external ids u64 × nodes     2 levels u8 × nodes
//!         3 deleted flags u8 × nodes     4 vectors f32 × nodes × dims
//!         5 layer-0 links u32 × nodes × (1 + m0)
//!         6 upper links u32 × upper_len  7 end (empty)
//! ```
//! The file must end right after the end section. Every byte is covered by
//! a checksum, and the sizes implied by the header must equal the file
//! size before anything is allocated.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::distance::Metric;
use crate::error::{IndexError, Result};
use crate::hnsw::{Entry, Graph, HnswParams, MAX_LEVEL, NONE};
use crate::util::{AlignedRows, stride_for};

/// Magic bytes at the start of every snapshot.
pub const MAGIC: [u8; 8] = *b"MLIDXHNS";
/// Snapshot format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 128;
const SECTION_OVERHEAD: usize = 4 + 8 + 4;
const TAGS: [u32; 7] = [1, 2, 3, 4, 5, 6, 7];

struct Section<'a, W: Write> {
    w: &'a mut W,
    crc: crc32fast::Hasher,
    buf: Vec<u8>,
}

impl<'a, W: Write> Section<'a, W> {
    fn begin(w: &'a mut W, tag: u32, len: u64) -> Self {
        let mut s = Self {
            w,
            crc: crc32fast::Hasher::new(),
            buf: Vec::with_capacity(1 << 16),
        };
        s.buf.extend_from_slice(&tag.to_le_bytes());
        s.buf.extend_from_slice(&len.to_le_bytes());
        s
    }

    #[inline]
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.crc.update(&self.buf);
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn end(mut self) -> io::Result<()> {
        self.flush()?;
        let crc = self.crc.clone().finalize();
        self.w.write_all(&crc.to_le_bytes())
    }
}

/// Writes the snapshot of `g` to `w`.
pub(crate) fn write<W: Write>(g: &Graph, w: &mut W, commit_seq: u64) -> io::Result<()> {
    let n = g.n();
    let entry = *g.entry.lock();
    let p = &g.params;
    let mut h = [0u8; HEADER_LEN];
    let mut at = 0;
    let mut put = |b: &[u8]| {
        h[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    put(&MAGIC);
    put(&FORMAT_VERSION.to_le_bytes());
    put(&(HEADER_LEN as u32).to_le_bytes());
    put(&(g.dims as u32).to_le_bytes());
    put(&g.metric.code().to_le_bytes());
    put(&(p.m as u32).to_le_bytes());
    put(&(g.m0 as u32).to_le_bytes());
    put(&(p.ef_construction as u32).to_le_bytes());
    put(&(p.ef_search as u32).to_le_bytes());
    put(&p.seed.to_le_bytes());
    put(&(p.exact_filter_threshold as u64).to_le_bytes());
    put(&p.filter_fallback_factor.to_le_bytes());
    put(&p.max_tombstone_ratio.to_le_bytes());
    put(&(n as u64).to_le_bytes());
    put(&(g.n_deleted as u64).to_le_bytes());
    put(&entry.node.to_le_bytes());
    put(&u32::from(entry.level).to_le_bytes());
    put(&(g.upper_len() as u64).to_le_bytes());
    put(&commit_seq.to_le_bytes());
    put(&g.insert_counter.to_le_bytes());
    let crc = crc32fast::hash(&h[..HEADER_LEN - 4]);
    h[HEADER_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
    w.write_all(&h)?;

    let mut s = Section::begin(w, 1, n as u64 * 8);
    for id in &g.ext {
        s.put(&id.to_le_bytes())?;
    }
    s.end()?;
    let mut s = Section::begin(w, 2, n as u64);
    s.put(&g.levels)?;
    s.end()?;
    let mut s = Section::begin(w, 3, n as u64);
    for &d in &g.deleted {
        s.put(&[u8::from(d)])?;
    }
    s.end()?;
    let mut s = Section::begin(w, 4, (n * g.dims * 4) as u64);
    for i in 0..n {
        for x in &g.rows.row(i)[..g.dims] {
            s.put(&x.to_le_bytes())?;
        }
    }
    s.end()?;
    let mut s = Section::begin(w, 5, (g.layer0.len() * 4) as u64);
    for a in &g.layer0 {
        s.put(&a.load(Relaxed).to_le_bytes())?;
    }
    s.end()?;
    let mut s = Section::begin(w, 6, (g.upper.len() * 4) as u64);
    for a in &g.upper {
        s.put(&a.load(Relaxed).to_le_bytes())?;
    }
    s.end()?;
    Section::begin(w, 7, 0).end()
}

/// Atomic save: temp file in the same directory, fsync, rename, fsync dir.
pub(crate) fn save(g: &Graph, path: &Path, commit_seq: u64) -> Result<()> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| IndexError::Io { path: p, source }
    };
    let mut name = path
        .file_name()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let result = (|| {
        let f = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        write(g, &mut w, commit_seq)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    Ok(())
}

fn corrupt(msg: impl Into<String>) -> IndexError {
    IndexError::Corrupt(msg.into())
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .ok_or_else(|| corrupt("length overflow"))?;
        let s = self
            .b
            .get(self.at..end)
            .ok_or_else(|| corrupt(format!("truncated at byte {}", self.at)))?;
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    fn f32(&mut self) -> Result<f32> {
        self.u32().map(f32::from_bits)
    }

    /// Reads a section, checking tag, exact length and checksum.
    fn section(&mut self, tag: u32, len: usize) -> Result<&'a [u8]> {
        let start = self.at;
        let t = self.u32()?;
        if t != tag {
            return Err(corrupt(format!("expected section {tag}, found tag {t}")));
        }
        let l = self.u64()?;
        if l != len as u64 {
            return Err(corrupt(format!(
                "section {tag} is {l} bytes, header implies {len}"
            )));
        }
        let payload = self.take(len)?;
        let covered = &self.b[start..self.at];
        let want = self.u32()?;
        if crc32fast::hash(covered) != want {
            return Err(corrupt(format!("checksum mismatch in section {tag}")));
        }
        Ok(payload)
    }
}

fn le_u32s(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// Parses and fully validates a snapshot.
pub(crate) fn read(b: &[u8]) -> Result<(Graph, u64)> {
    if b.len() < 12 {
        if b.len() >= 8 && b[..8] != MAGIC {
            return Err(IndexError::BadMagic);
        }
        return Err(corrupt(format!(
            "{} bytes is too short for a snapshot",
            b.len()
        )));
    }
    if b[..8] != MAGIC {
        return Err(IndexError::BadMagic);
    }
    let mut c = Cursor { b, at: 8 };
    let version = c.u32()?;
    if version != FORMAT_VERSION {
        return Err(IndexError::UnsupportedVersion {
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    let header = b
        .get(..HEADER_LEN)
        .ok_or_else(|| corrupt("truncated header"))?;
    let want = u32::from_le_bytes([header[124], header[125], header[126], header[127]]);
    if crc32fast::hash(&header[..HEADER_LEN - 4]) != want {
        return Err(corrupt("header checksum mismatch"));
    }
    let header_len = c.u32()? as usize;
    if header_len != HEADER_LEN {
        return Err(corrupt(format!(
            "header length {header_len}, expected {HEADER_LEN}"
        )));
    }
    let dims = c.u32()? as usize;
    let metric = Metric::from_code(c.u32()?).ok_or_else(|| corrupt("unknown metric code"))?;
    let m = c.u32()? as usize;
    let m0 = c.u32()? as usize;
    let ef_construction = c.u32()? as usize;
    let ef_search = c.u32()? as usize;
    let seed = c.u64()?;
    let exact_filter_threshold =
        usize::try_from(c.u64()?).map_err(|_| corrupt("threshold too large"))?;
    let filter_fallback_factor = c.f32()?;
    let max_tombstone_ratio = c.f32()?;
    let params = HnswParams {
        m,
        ef_construction,
        ef_search,
        seed,
        exact_filter_threshold,
        filter_fallback_factor,
        max_tombstone_ratio,
    };
    params
        .validate()
        .map_err(|e| corrupt(format!("bad parameters: {e}")))?;
    if m0 != 2 * m {
        return Err(corrupt("m0 is not 2 * m"));
    }
    if dims == 0 || dims > crate::MAX_DIMS {
        return Err(corrupt(format!("dimensions {dims} out of range")));
    }
    let n64 = c.u64()?;
    let n_deleted = c.u64()?;
    let entry_node = c.u32()?;
    let entry_level = c.u32()?;
    let upper_len64 = c.u64()?;
    let commit_seq = c.u64()?;
    let insert_counter = c.u64()?;
    if header[c.at..HEADER_LEN - 4].iter().any(|&x| x != 0) {
        return Err(corrupt("reserved header bytes are not zero"));
    }
    c.at = HEADER_LEN;
    if n64 > crate::MAX_NODES as u64 || n_deleted > n64 {
        return Err(corrupt("node counts out of range"));
    }
    // Sizes implied by the header must match the file before allocating.
    let n = n64 as usize;
    let sizes = [
        n.checked_mul(8),
        Some(n),
        Some(n),
        n.checked_mul(dims).and_then(|x| x.checked_mul(4)),
        n.checked_mul(1 + m0).and_then(|x| x.checked_mul(4)),
        usize::try_from(upper_len64)
            .ok()
            .and_then(|x| x.checked_mul(4)),
        Some(0),
    ];
    let mut total = HEADER_LEN as u128;
    for s in sizes {
        total +=
            s.ok_or_else(|| corrupt("section size overflows"))? as u128 + SECTION_OVERHEAD as u128;
    }
    if total != b.len() as u128 {
        return Err(corrupt(format!(
            "header implies {total} bytes, file has {}",
            b.len()
        )));
    }
    let size = |i: usize| sizes[i].unwrap_or(0);

    let ext: Vec<u64> = c
        .section(TAGS[0], size(0))?
        .chunks_exact(8)
        .map(|x| {
            let mut a = [0u8; 8];
            a.copy_from_slice(x);
            u64::from_le_bytes(a)
        })
        .collect();
    let levels = c.section(TAGS[1], size(1))?.to_vec();
    let deleted_bytes = c.section(TAGS[2], size(2))?;
    let vec_bytes = c.section(TAGS[3], size(3))?;
    let l0_bytes = c.section(TAGS[4], size(4))?;
    let up_bytes = c.section(TAGS[5], size(5))?;
    c.section(TAGS[6], 0)?;

    // Levels and the entry point.
    if let Some(&l) = levels.iter().find(|&&l| l as usize > MAX_LEVEL) {
        return Err(corrupt(format!("node level {l} above maximum {MAX_LEVEL}")));
    }
    let upper_slots: u64 = levels.iter().map(|&l| u64::from(l) * (1 + m as u64)).sum();
    if upper_slots != upper_len64 {
        return Err(corrupt("upper link size disagrees with node levels"));
    }
    let max_level = levels.iter().copied().max().unwrap_or(0);
    let entry = if n == 0 {
        if entry_node != NONE || entry_level != 0 {
            return Err(corrupt("empty index with an entry point"));
        }
        Entry {
            node: NONE,
            level: 0,
        }
    } else {
        if entry_node as usize >= n || u32::from(levels[entry_node as usize]) != entry_level {
            return Err(corrupt("entry point out of range or at the wrong level"));
        }
        if entry_level != u32::from(max_level) {
            return Err(corrupt("entry point is not on the top layer"));
        }
        Entry {
            node: entry_node,
            level: max_level,
        }
    };

    // Tombstones.
    let mut deleted = Vec::with_capacity(n);
    for &d in deleted_bytes {
        match d {
            0 => deleted.push(false),
            1 => deleted.push(true),
            _ => return Err(corrupt("deleted flag is neither 0 nor 1")),
        }
    }
    if deleted.iter().filter(|&&d| d).count() as u64 != n_deleted {
        return Err(corrupt("deleted count disagrees with flags"));
    }

    // Vectors.
    let mut rows = AlignedRows::new(stride_for(dims));
    rows.reserve(n);
    for chunk in vec_bytes.chunks_exact(dims * 4) {
        let row = rows.push_zeroed();
        for (o, x) in row.iter_mut().zip(le_u32s(chunk)) {
            *o = f32::from_bits(x);
        }
        if row.iter().any(|x| !x.is_finite()) {
            return Err(corrupt("vector with a non-finite value"));
        }
        let norm2: f64 = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        if norm2 > f64::from(f32::MAX) || (metric == Metric::Cosine && (norm2 - 1.0).abs() > 1e-3) {
            return Err(corrupt("vector norm out of range for the metric"));
        }
    }

    // Links: counts within capacity, targets in range and present on the layer.
    let layer0: Vec<AtomicU32> = le_u32s(l0_bytes).map(AtomicU32::new).collect();
    let upper: Vec<AtomicU32> = le_u32s(up_bytes).map(AtomicU32::new).collect();
    let check_list = |list: &[AtomicU32], layer: usize| -> Result<()> {
        let cnt = list[0].load(Relaxed) as usize;
        if cnt > list.len() - 1 {
            return Err(corrupt(format!(
                "layer {layer} link count {cnt} above capacity"
            )));
        }
        for a in &list[1..1 + cnt] {
            let t = a.load(Relaxed) as usize;
            if t >= n || (levels[t] as usize) < layer {
                return Err(corrupt(format!("layer {layer} link to invalid node {t}")));
            }
        }
        Ok(())
    };
    for list in layer0.chunks_exact(1 + m0) {
        check_list(list, 0)?;
    }
    let mut off = 0;
    for &l in &levels {
        for layer in 1..=l as usize {
            check_list(&upper[off..off + 1 + m], layer)?;
            off += 1 + m;
        }
    }

    let g = Graph::from_parts(
        dims,
        metric,
        params,
        rows,
        ext,
        levels,
        deleted,
        layer0,
        upper,
        entry,
        insert_counter,
    )?;
    Ok((g, commit_seq))
}
