//! The engine's vector side: an HNSW index over dense slot ids, the map
//! between memory ids (UUIDs) and slots, and an in-memory scope index that
//! turns a user/agent/run scope into the allowed-set of a filtered search.
//!
//! The redb store is the source of truth; all of this is derived and can be
//! rebuilt from it. A snapshot (`<db>.hnsw` from memlayer-index plus
//! `<db>.ids`, the slot table) is written when the last handle closes and
//! used at the next open only if both files are intact, record the store's
//! current commit sequence, and hold exactly the store's memories.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memlayer_index::{AllowSet, HnswIndex, HnswParams, Metric};
use memlayer_store::{Scope, ScopeKind, Store};
use parking_lot::RwLock;
use uuid::Uuid;

use crate::error::{MemoryError, Result};

const IDS_MAGIC: &[u8; 8] = b"MLIDMAP1";
const IDS_VERSION: u32 = 1;

type ScopeKey = (ScopeKind, String);

/// A change to apply to the vector side after a store commit.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Insert {
        id: Uuid,
        scope: Scope,
        vector: Vec<f32>,
    },
    Update {
        id: Uuid,
        vector: Vec<f32>,
    },
    Delete {
        id: Uuid,
    },
}

struct State {
    index: HnswIndex,
    /// slot -> (memory id, scope); `None` once deleted.
    slots: Vec<Option<(Uuid, Scope)>>,
    by_id: HashMap<Uuid, u64>,
    /// Sorted live slots of every scope dimension value.
    scopes: HashMap<ScopeKey, Vec<u64>>,
    allow_cache: HashMap<Vec<ScopeKey>, Option<Arc<AllowSet>>>,
    /// Store commit sequence this state reflects.
    seq: u64,
    dirty: bool,
}

/// How the vector side came up at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexOrigin {
    /// Loaded from the snapshot files.
    Snapshot,
    /// Rebuilt from the store (no snapshot, stale, corrupt or disabled).
    Rebuilt,
}

pub(crate) struct Vectors {
    state: RwLock<State>,
    params: HnswParams,
    dims: usize,
    snapshot: Option<(PathBuf, PathBuf)>,
    pub(crate) origin: IndexOrigin,
}

fn key_of(scope: &Scope) -> Vec<ScopeKey> {
    scope.entries().map(|(k, v)| (k, v.to_string())).collect()
}

impl State {
    fn empty(dims: usize, params: &HnswParams) -> Result<State> {
        Ok(State {
            index: HnswIndex::new(dims, Metric::Cosine, params.clone())?,
            slots: Vec::new(),
            by_id: HashMap::new(),
            scopes: HashMap::new(),
            allow_cache: HashMap::new(),
            seq: 0,
            dirty: false,
        })
    }

    fn add_scope(&mut self, slot: u64, scope: &Scope) {
        for k in key_of(scope) {
            let v = self.scopes.entry(k).or_default();
            // Slots grow monotonically: push keeps the list sorted.
            if v.last().is_none_or(|&l| l < slot) {
                v.push(slot);
            } else if let Err(pos) = v.binary_search(&slot) {
                v.insert(pos, slot);
            }
        }
    }

    fn remove_scope(&mut self, slot: u64, scope: &Scope) {
        for k in key_of(scope) {
            if let Some(v) = self.scopes.get_mut(&k) {
                if let Ok(pos) = v.binary_search(&slot) {
                    v.remove(pos);
                }
                if v.is_empty() {
                    self.scopes.remove(&k);
                }
            }
        }
    }

    fn apply(&mut self, change: Change) -> Result<()> {
        match change {
            Change::Insert { id, scope, vector } => {
                let slot = self.slots.len() as u64;
                self.index.insert(slot, &vector)?;
                self.add_scope(slot, &scope);
                self.slots.push(Some((id, scope)));
                self.by_id.insert(id, slot);
            }
            Change::Update { id, vector } => {
                if let Some(&slot) = self.by_id.get(&id) {
                    self.index.update(slot, &vector)?;
                }
            }
            Change::Delete { id } => {
                if let Some(slot) = self.by_id.remove(&id) {
                    self.index.delete(slot)?;
                    if let Some(Some((_, scope))) =
                        self.slots.get_mut(slot as usize).map(Option::take)
                    {
                        self.remove_scope(slot, &scope);
                    }
                }
            }
        }
        Ok(())
    }

    /// The allowed set of a scope: `Ok(None)` = no filter needed (the scope
    /// holds every live vector), `Err(())` = the scope is empty.
    fn allow(&mut self, scope: &Scope) -> std::result::Result<Option<Arc<AllowSet>>, ()> {
        let key = key_of(scope);
        if let Some(c) = self.allow_cache.get(&key) {
            return Ok(c.clone());
        }
        let mut acc: Option<Vec<u64>> = None;
        for k in &key {
            let Some(list) = self.scopes.get(k) else {
                return Err(());
            };
            acc = Some(match acc {
                None => list.clone(),
                Some(prev) => intersect(&prev, list),
            });
        }
        let ids = acc.unwrap_or_default();
        if ids.is_empty() {
            return Err(());
        }
        let allow = if ids.len() == self.index.len() {
            None
        } else {
            Some(Arc::new(AllowSet::from_ids(ids)))
        };
        self.allow_cache.insert(key, allow.clone());
        Ok(allow)
    }
}

fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn snapshot_paths(db: &Path) -> (PathBuf, PathBuf) {
    let mut hnsw = db.as_os_str().to_owned();
    hnsw.push(".hnsw");
    let mut ids = db.as_os_str().to_owned();
    ids.push(".ids");
    (PathBuf::from(hnsw), PathBuf::from(ids))
}

fn encode_ids(slots: &[Option<(Uuid, Scope)>], seq: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(28 + slots.len() * 16 + 4);
    b.extend_from_slice(IDS_MAGIC);
    b.extend_from_slice(&IDS_VERSION.to_le_bytes());
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend_from_slice(&(slots.len() as u64).to_le_bytes());
    for s in slots {
        b.extend_from_slice(s.as_ref().map_or(Uuid::nil(), |(id, _)| *id).as_bytes());
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn decode_ids(b: &[u8]) -> std::result::Result<(u64, Vec<Uuid>), String> {
    if b.len() < 32 || &b[..8] != IDS_MAGIC {
        return Err("not an id map".into());
    }
    let (body, crc) = b.split_at(b.len() - 4);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| "short")?);
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    let u32_at = |o: usize| {
        body.get(o..o + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |o: usize| {
        body.get(o..o + 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if u32_at(8) != Some(IDS_VERSION) {
        return Err("unsupported version".into());
    }
    let seq = u64_at(12).ok_or("short header")?;
    let n = u64_at(20).ok_or("short header")?;
    let rest = &body[28..];
    if (rest.len() as u64) != n.saturating_mul(16) {
        return Err("length mismatch".into());
    }
    let ids = rest
        .chunks_exact(16)
        .map(|c| Uuid::from_slice(c).unwrap_or(Uuid::nil()))
        .collect();
    Ok((seq, ids))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    }
    Ok(())
}

impl Vectors {
    /// Loads the snapshot if it matches the store exactly, else rebuilds.
    pub(crate) fn open(
        store: &Store,
        db_path: &Path,
        params: HnswParams,
        use_snapshot: bool,
    ) -> Result<Vectors> {
        let dims = store.dims() as usize;
        let snapshot = use_snapshot.then(|| snapshot_paths(db_path));
        let snap = store.snapshot()?;
        let seq = snap.commit_seq()?;
        let mut records: Vec<(Uuid, Scope)> = Vec::new();
        snap.for_each_memory(|m| records.push((m.id, m.scope)))?;

        if let Some((hnsw, ids)) = &snapshot {
            match Self::try_load(hnsw, ids, seq, &records, dims, &params) {
                Ok(state) => {
                    tracing::debug!(memories = records.len(), "index loaded from snapshot");
                    return Ok(Vectors {
                        state: RwLock::new(state),
                        params,
                        dims,
                        snapshot,
                        origin: IndexOrigin::Snapshot,
                    });
                }
                Err(why) if hnsw.exists() || ids.exists() => {
                    tracing::warn!(%why, "index snapshot not usable; rebuilding from the store")
                }
                Err(_) => {}
            }
        }
        let state = Self::build(&snap, records, seq, dims, &params)?;
        Ok(Vectors {
            state: RwLock::new(state),
            params,
            dims,
            snapshot,
            origin: IndexOrigin::Rebuilt,
        })
    }

    /// Builds the whole state from one store snapshot.
    fn build(
        snap: &memlayer_store::Snapshot<'_>,
        records: Vec<(Uuid, Scope)>,
        seq: u64,
        dims: usize,
        params: &HnswParams,
    ) -> Result<State> {
        let t = std::time::Instant::now();
        let mut vectors: HashMap<Uuid, Vec<f32>> = HashMap::with_capacity(records.len());
        snap.for_each_vector(|id, v| {
            vectors.insert(id, v.to_vec());
        })?;
        let mut state = State::empty(dims, params)?;
        let mut flat = Vec::with_capacity(records.len() * dims);
        let mut slot_ids = Vec::with_capacity(records.len());
        for (id, scope) in records {
            let Some(v) = vectors.remove(&id) else {
                return Err(MemoryError::Storage(memlayer_store::StoreError::Corrupt {
                    what: "vectors",
                    reason: format!("memory {id} has no vector; run verify"),
                }));
            };
            let slot = state.slots.len() as u64;
            flat.extend_from_slice(&v);
            slot_ids.push(slot);
            state.add_scope(slot, &scope);
            state.by_id.insert(id, slot);
            state.slots.push(Some((id, scope)));
        }
        if !slot_ids.is_empty() {
            state.index.insert_batch(&slot_ids, &flat)?;
        }
        state.seq = seq;
        state.dirty = true;
        tracing::info!(
            memories = slot_ids.len(),
            ms = t.elapsed().as_millis() as u64,
            "index rebuilt from the store"
        );
        Ok(state)
    }

    /// Rebuilds everything from the store (after an import, or when an
    /// index update failed).
    pub(crate) fn rebuild(&self, store: &Store) -> Result<()> {
        let snap = store.snapshot()?;
        let seq = snap.commit_seq()?;
        let mut records = Vec::new();
        snap.for_each_memory(|m| records.push((m.id, m.scope)))?;
        let state = Self::build(&snap, records, seq, self.dims, &self.params)?;
        *self.state.write() = state;
        Ok(())
    }

    fn try_load(
        hnsw: &Path,
        ids: &Path,
        seq: u64,
        records: &[(Uuid, Scope)],
        dims: usize,
        params: &HnswParams,
    ) -> std::result::Result<State, String> {
        let bytes = std::fs::read(ids).map_err(|e| format!("{}: {e}", ids.display()))?;
        let (ids_seq, slot_ids) = decode_ids(&bytes)?;
        let (index, idx_seq) = HnswIndex::load(hnsw).map_err(|e| e.to_string())?;
        if ids_seq != seq || idx_seq != seq {
            return Err(format!(
                "stale: snapshot at commit {idx_seq}/{ids_seq}, store at {seq}"
            ));
        }
        if index.dims() != dims || index.metric() != Metric::Cosine {
            return Err("snapshot has other dimensions or metric".into());
        }
        index
            .set_search_params(
                params.ef_search,
                params.exact_filter_threshold,
                params.filter_fallback_factor,
            )
            .map_err(|e| e.to_string())?;
        let scopes: HashMap<Uuid, &Scope> = records.iter().map(|(id, s)| (*id, s)).collect();
        let mut state = State {
            index,
            slots: Vec::with_capacity(slot_ids.len()),
            by_id: HashMap::with_capacity(records.len()),
            scopes: HashMap::new(),
            allow_cache: HashMap::new(),
            seq,
            dirty: false,
        };
        for (slot, id) in slot_ids.into_iter().enumerate() {
            let slot = slot as u64;
            if id.is_nil() {
                if state.index.contains(slot) {
                    return Err(format!("slot {slot} is free but indexed"));
                }
                state.slots.push(None);
                continue;
            }
            let scope = scopes
                .get(&id)
                .ok_or_else(|| format!("memory {id} is not in the store"))?;
            if !state.index.contains(slot) || state.by_id.insert(id, slot).is_some() {
                return Err(format!("slot {slot} inconsistent"));
            }
            state.add_scope(slot, scope);
            state.slots.push(Some((id, (*scope).clone())));
        }
        if state.by_id.len() != records.len() || state.index.len() != records.len() {
            return Err(format!(
                "snapshot holds {} memories, store {}",
                state.by_id.len(),
                records.len()
            ));
        }
        Ok(state)
    }

    /// Applies changes committed at store sequence `seq`.
    pub(crate) fn apply(&self, seq: u64, changes: Vec<Change>) -> Result<()> {
        let mut s = self.state.write();
        s.allow_cache.clear();
        s.dirty = true;
        s.seq = seq;
        for c in changes {
            s.apply(c)?;
        }
        Ok(())
    }

    /// The `k` nearest memories of `scope` as (id, cosine similarity).
    pub(crate) fn search(
        &self,
        query: &[f32],
        k: usize,
        scope: &Scope,
    ) -> Result<Vec<(Uuid, f32)>> {
        let allow = {
            // Fast path under the read lock; the cache fill needs the write lock.
            let s = self.state.read();
            s.allow_cache.get(&key_of(scope)).cloned()
        };
        let allow = match allow {
            Some(a) => a,
            None => match self.state.write().allow(scope) {
                Ok(a) => a,
                Err(()) => return Ok(Vec::new()),
            },
        };
        let s = self.state.read();
        let hits = s.index.search(query, k, allow.as_deref())?;
        Ok(hits
            .into_iter()
            .filter_map(|(slot, d)| {
                let (id, _) = s.slots.get(slot as usize)?.as_ref()?;
                Some((*id, (1.0 - d).clamp(-1.0, 1.0)))
            })
            .collect())
    }

    /// Memory ids of a scope (what `delete_all` removes).
    pub(crate) fn scope_ids(&self, scope: &Scope) -> Vec<Uuid> {
        let mut s = self.state.write();
        let allowed: Vec<u64> = match s.allow(scope) {
            Err(()) => return Vec::new(),
            Ok(Some(a)) => a.iter().collect(),
            Ok(None) => s.by_id.values().copied().collect(),
        };
        allowed
            .into_iter()
            .filter_map(|slot| s.slots.get(slot as usize)?.as_ref().map(|(id, _)| *id))
            .collect()
    }

    /// Drops everything (after a store reset at `seq`).
    pub(crate) fn clear(&self, seq: u64) -> Result<()> {
        let mut s = self.state.write();
        *s = State::empty(self.dims, &self.params)?;
        s.seq = seq;
        s.dirty = true;
        Ok(())
    }

    /// Writes the snapshot if anything changed since the last one.
    pub(crate) fn save(&self) -> Result<()> {
        let Some((hnsw, ids)) = &self.snapshot else {
            return Ok(());
        };
        let mut s = self.state.write();
        if !s.dirty {
            return Ok(());
        }
        // Ids first: a crash between the two leaves mismatching sequences,
        // which the next open detects (and rebuilds).
        write_atomic(ids, &encode_ids(&s.slots, s.seq))
            .map_err(|e| MemoryError::Storage(memlayer_store::StoreError::Io(e)))?;
        s.index.save(hnsw, s.seq)?;
        s.dirty = false;
        Ok(())
    }

    /// Removes the snapshot files (they are rebuilt on the next save).
    pub(crate) fn remove_snapshot(&self) {
        if let Some((hnsw, ids)) = &self.snapshot {
            let _ = std::fs::remove_file(hnsw);
            let _ = std::fs::remove_file(ids);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_map_round_trip_and_corruption() {
        let slots = vec![Some((Uuid::now_v7(), Scope::user("a"))), None];
        let b = encode_ids(&slots, 9);
        let (seq, ids) = decode_ids(&b).unwrap();
        assert_eq!(seq, 9);
        assert_eq!(ids[0], slots[0].as_ref().unwrap().0);
        assert!(ids[1].is_nil());
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x40;
            assert!(decode_ids(&c).is_err(), "flip at {i} accepted");
        }
        assert!(decode_ids(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn intersect_sorted() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5, 8]), vec![3, 5]);
    }
}
