//! On-disk encodings: versioned postcard values, raw vectors and the byte
//! layout of composite keys. `docs/design.md` documents every byte.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::md5;
use crate::record::{HistoryEvent, HistoryKind, Memory};
use crate::scope::Scope;
use crate::time::Timestamp;

/// Format-version byte that prefixes the postcard values written by this
/// build (records are the exception: they are written as [`RECORD_V2`]).
pub const FORMAT_V1: u8 = 1;

/// Format-version byte of the record layout written by this build
/// ([`RecordV2`]); records prefixed with [`FORMAT_V1`] are still read.
pub const RECORD_V2: u8 = 2;

/// Record value layout, version 1 (postcard after the version byte).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecordV1 {
    pub text: String,
    pub hash: [u8; 16],
    pub user_id: Option<String>,
    pub agent_id: Option<String>,
    pub run_id: Option<String>,
    pub actor_id: Option<String>,
    pub role: Option<String>,
    pub memory_type: Option<String>,
    /// serde_json bytes of a JSON object.
    pub metadata: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expiration_date: Option<i64>,
    pub embedding_model: String,
}

/// Record value layout, version 2: [`RecordV1`] followed by the two
/// supersession fields. Written by every build since schema version 2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecordV2 {
    pub v1: RecordV1,
    pub superseded_at: Option<i64>,
    pub superseded_by: Option<[u8; 16]>,
}

/// History value layout, version 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct HistoryV1 {
    /// 0 = ADD, 1 = UPDATE, 2 = DELETE.
    pub event: u8,
    pub old_memory: Option<String>,
    pub new_memory: Option<String>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub event_at: i64,
    pub is_deleted: bool,
    pub actor_id: Option<String>,
    pub role: Option<String>,
}

pub(crate) fn encode<T: Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>> {
    encode_version(FORMAT_V1, what, v)
}

/// Encodes `v` behind an explicit format-version byte (values whose layout
/// has more than one version, e.g. graph edges).
pub(crate) fn encode_version<T: Serialize>(
    version: u8,
    what: &'static str,
    v: &T,
) -> Result<Vec<u8>> {
    let mut out = vec![version];
    let body =
        postcard::to_stdvec(v).map_err(|e| StoreError::corrupt(what, format!("encode: {e}")))?;
    out.extend_from_slice(&body);
    Ok(out)
}

pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    decode_version(FORMAT_V1, what, bytes)
}

/// Decodes a value that must carry format-version byte `expected`.
pub(crate) fn decode_version<T: DeserializeOwned>(
    expected: u8,
    what: &'static str,
    bytes: &[u8],
) -> Result<T> {
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| StoreError::corrupt(what, "empty value"))?;
    if version != expected {
        return Err(StoreError::corrupt(
            what,
            format!("unknown format version {version}"),
        ));
    }
    let (v, rest) =
        postcard::take_from_bytes::<T>(body).map_err(|e| StoreError::corrupt(what, e))?;
    if !rest.is_empty() {
        return Err(StoreError::corrupt(
            what,
            format!("{} trailing bytes", rest.len()),
        ));
    }
    Ok(v)
}

impl RecordV1 {
    pub(crate) fn from_memory(m: &Memory) -> Result<RecordV1> {
        Ok(RecordV1 {
            text: m.text.clone(),
            hash: md5::digest(m.text.as_bytes()),
            user_id: m.scope.user_id.clone(),
            agent_id: m.scope.agent_id.clone(),
            run_id: m.scope.run_id.clone(),
            actor_id: m.actor_id.clone(),
            role: m.role.clone(),
            memory_type: m.memory_type.clone(),
            metadata: serde_json::to_vec(&m.metadata)
                .map_err(|e| StoreError::InvalidMetadata(e.to_string()))?,
            created_at: m.created_at.0,
            updated_at: m.updated_at.0,
            expiration_date: m.expiration_date.map(|t| t.0),
            embedding_model: m.embedding_model.clone(),
        })
    }

    pub(crate) fn into_memory(self, id: Uuid) -> Result<Memory> {
        let metadata: Map<String, Value> = serde_json::from_slice(&self.metadata)
            .map_err(|e| StoreError::corrupt("record metadata", e))?;
        Ok(Memory {
            id,
            hash: md5::to_hex(&self.hash),
            text: self.text,
            scope: Scope {
                user_id: self.user_id,
                agent_id: self.agent_id,
                run_id: self.run_id,
            },
            actor_id: self.actor_id,
            role: self.role,
            memory_type: self.memory_type,
            metadata,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
            expiration_date: self.expiration_date.map(Timestamp),
            embedding_model: self.embedding_model,
            superseded_at: None,
            superseded_by: None,
        })
    }
}

/// Encodes a memory as a record value (`0x02` ‖ postcard([`RecordV2`])).
pub fn encode_record(m: &Memory) -> Result<Vec<u8>> {
    let v2 = RecordV2 {
        v1: RecordV1::from_memory(m)?,
        superseded_at: m.superseded_at.map(|t| t.0),
        superseded_by: m.superseded_by.map(|id| *id.as_bytes()),
    };
    encode_version(RECORD_V2, "record", &v2)
}

/// Decodes a record value of either layout: `0x01` ([`RecordV1`], files of
/// schema version 1: never superseded) or `0x02` ([`RecordV2`]). Arbitrary
/// input yields an error, never a panic (this is the record-decoder fuzz
/// target).
///
/// ```
/// assert!(memlayer_store::codec::decode_record(uuid::Uuid::nil(), &[1, 2, 3]).is_err());
/// ```
pub fn decode_record(id: Uuid, bytes: &[u8]) -> Result<Memory> {
    match bytes.first() {
        Some(&FORMAT_V1) => decode::<RecordV1>("record", bytes)?.into_memory(id),
        _ => {
            let v2: RecordV2 = decode_version(RECORD_V2, "record", bytes)?;
            let mut m = v2.v1.into_memory(id)?;
            m.superseded_at = v2.superseded_at.map(Timestamp);
            m.superseded_by = v2.superseded_by.map(Uuid::from_bytes);
            Ok(m)
        }
    }
}

pub(crate) fn kind_to_u8(k: HistoryKind) -> u8 {
    match k {
        HistoryKind::Add => 0,
        HistoryKind::Update => 1,
        HistoryKind::Delete => 2,
        HistoryKind::Supersede => 3,
    }
}

pub(crate) fn encode_history(e: &HistoryEvent) -> Result<Vec<u8>> {
    encode(
        "history",
        &HistoryV1 {
            event: kind_to_u8(e.event),
            old_memory: e.old_memory.clone(),
            new_memory: e.new_memory.clone(),
            created_at: e.created_at.0,
            updated_at: e.updated_at.map(|t| t.0),
            event_at: e.event_at.0,
            is_deleted: e.is_deleted,
            actor_id: e.actor_id.clone(),
            role: e.role.clone(),
        },
    )
}

pub(crate) fn decode_history(key: &[u8], bytes: &[u8]) -> Result<HistoryEvent> {
    let h: HistoryV1 = decode("history", bytes)?;
    let (memory_id, seq, _) = split_history_key(key)?;
    let event = match h.event {
        0 => HistoryKind::Add,
        1 => HistoryKind::Update,
        2 => HistoryKind::Delete,
        3 => HistoryKind::Supersede,
        other => {
            return Err(StoreError::corrupt(
                "history",
                format!("unknown event kind {other}"),
            ));
        }
    };
    Ok(HistoryEvent {
        memory_id,
        seq,
        event,
        old_memory: h.old_memory,
        new_memory: h.new_memory,
        created_at: Timestamp(h.created_at),
        updated_at: h.updated_at.map(Timestamp),
        event_at: Timestamp(h.event_at),
        is_deleted: h.is_deleted,
        actor_id: h.actor_id,
        role: h.role,
    })
}

/// History key: memory id (16) ‖ commit seq (u64 BE) ‖ index in batch (u32 BE).
pub(crate) fn history_key(id: Uuid, seq: u64, idx: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(28);
    k.extend_from_slice(id.as_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(&idx.to_be_bytes());
    k
}

pub(crate) fn split_history_key(key: &[u8]) -> Result<(Uuid, u64, u32)> {
    if key.len() != 28 {
        return Err(StoreError::corrupt(
            "history key",
            format!("length {}", key.len()),
        ));
    }
    let id = Uuid::from_slice(&key[..16]).map_err(|e| StoreError::corrupt("history key", e))?;
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&key[16..24]);
    let mut idx = [0u8; 4];
    idx.copy_from_slice(&key[24..28]);
    Ok((id, u64::from_be_bytes(seq), u32::from_be_bytes(idx)))
}

/// Raw little-endian f32 bytes.
pub(crate) fn vector_to_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub(crate) fn vector_from_bytes(b: &[u8]) -> Result<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return Err(StoreError::corrupt(
            "vector",
            format!("length {} is not a multiple of 4", b.len()),
        ));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Scope-index value: created_at (i64 with the sign bit flipped, BE) ‖ id.
/// Sorting these bytes sorts by creation time, then id.
pub(crate) fn order_key(created_at: Timestamp, id: Uuid) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&((created_at.0 as u64) ^ (1 << 63)).to_be_bytes());
    out[8..].copy_from_slice(id.as_bytes());
    out
}

pub(crate) fn split_order_key(k: &[u8; 24]) -> (Timestamp, Uuid) {
    let mut t = [0u8; 8];
    t.copy_from_slice(&k[..8]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&k[8..]);
    (
        Timestamp((u64::from_be_bytes(t) ^ (1 << 63)) as i64),
        Uuid::from_bytes(id),
    )
}

/// Appends a length-prefixed part (u16 BE length ‖ bytes). Parts longer
/// than 65535 bytes are rejected by validation before reaching here.
pub(crate) fn push_part(out: &mut Vec<u8>, part: &[u8]) {
    let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&part[..usize::from(len)]);
}

/// Splits a buffer of length-prefixed parts.
pub(crate) fn split_parts(mut b: &[u8]) -> Result<Vec<&[u8]>> {
    let mut parts = Vec::new();
    while !b.is_empty() {
        if b.len() < 2 {
            return Err(StoreError::corrupt("composite key", "truncated length"));
        }
        let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
        let rest = &b[2..];
        if rest.len() < len {
            return Err(StoreError::corrupt("composite key", "truncated part"));
        }
        parts.push(&rest[..len]);
        b = &rest[len..];
    }
    Ok(parts)
}

/// Canonical graph-scope key: three length-prefixed parts (user, agent,
/// run), an empty part meaning "not set".
pub(crate) fn scope_key(s: &Scope) -> Vec<u8> {
    let mut out = Vec::new();
    for k in crate::scope::ScopeKind::ALL {
        push_part(&mut out, s.get(k).unwrap_or("").as_bytes());
    }
    out
}

pub(crate) fn scope_from_key(parts: &[&[u8]]) -> Result<Scope> {
    let mut s = Scope::default();
    for (i, k) in crate::scope::ScopeKind::ALL.into_iter().enumerate() {
        let p = parts
            .get(i)
            .ok_or_else(|| StoreError::corrupt("scope key", "missing part"))?;
        if !p.is_empty() {
            let v = std::str::from_utf8(p).map_err(|e| StoreError::corrupt("scope key", e))?;
            s.set(k, Some(v.to_string()));
        }
    }
    Ok(s)
}

/// Per-scope keyword statistics key: kind tag (`u`/`a`/`r`) ‖ id, or `*` for the whole store.
pub(crate) fn stats_key(tag: u8, id: &str) -> Vec<u8> {
    let mut k = vec![tag];
    k.extend_from_slice(id.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_key_sorts_by_time() {
        let a = order_key(Timestamp(-5), Uuid::from_u128(9));
        let b = order_key(Timestamp(3), Uuid::from_u128(1));
        assert!(a < b);
        assert_eq!(split_order_key(&a), (Timestamp(-5), Uuid::from_u128(9)));
    }

    #[test]
    fn parts_round_trip() {
        let mut k = Vec::new();
        push_part(&mut k, b"alice");
        push_part(&mut k, b"");
        push_part(&mut k, b"x");
        assert_eq!(split_parts(&k).unwrap(), vec![&b"alice"[..], b"", b"x"]);
        assert!(split_parts(&k[..k.len() - 1]).is_err());
    }
}
