//! Snapshot round trip and corruption detection.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::{Rng, clustered};
use memlayer_index::{FORMAT_VERSION, HnswIndex, HnswParams, IndexError, Metric};

const DIMS: usize = 16;

fn small_index(metric: Metric) -> (HnswIndex, Vec<f32>) {
    let n = 500;
    let data = clustered(n, DIMS, 8, 3);
    let idx = HnswIndex::new(
        DIMS,
        metric,
        HnswParams {
            m: 8,
            ef_construction: 64,
            ..HnswParams::default()
        },
    )
    .unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1).collect();
    idx.insert_batch(&ids, &data).unwrap();
    for id in (1..300u64).step_by(30) {
        idx.delete(id).unwrap();
    }
    (idx, data)
}

fn all_results(idx: &HnswIndex, queries: &[f32]) -> Vec<Vec<(u64, f32)>> {
    queries
        .chunks_exact(DIMS)
        .map(|q| idx.search_ef(q, 10, 50, None).unwrap())
        .collect()
}

#[test]
fn round_trip_gives_identical_results() {
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        let (idx, _) = small_index(metric);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx.snap");
        idx.save(&path, 1234).unwrap();
        let (back, seq) = HnswIndex::load(&path).unwrap();
        assert_eq!(seq, 1234);
        // A batch of 500 ran the reachability repair; deletes and the
        // round trip keep it.
        idx.check_reachability().unwrap();
        back.check_reachability().unwrap();
        assert_eq!(back.len(), idx.len());
        assert_eq!(back.deleted_count(), idx.deleted_count());
        assert_eq!(back.params(), idx.params());
        let queries = clustered(50, DIMS, 8, 77);
        assert_eq!(all_results(&idx, &queries), all_results(&back, &queries));
        // Bytes are stable: saving the loaded index gives the same file.
        assert_eq!(idx.to_bytes(1234), back.to_bytes(1234));
        // No temp file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // The loaded index keeps working.
        back.insert(999_999, &queries[..DIMS]).unwrap();
        back.check_invariants().unwrap();
        assert_eq!(
            back.search(&queries[..DIMS], 1, None).unwrap()[0].0,
            999_999
        );
    }
}

#[test]
fn empty_index_round_trips() {
    let idx = HnswIndex::new(3, Metric::L2, HnswParams::default()).unwrap();
    let (back, seq) = HnswIndex::load_from_bytes(&idx.to_bytes(7)).unwrap();
    assert_eq!(seq, 7);
    assert!(back.is_empty());
    back.check_reachability().unwrap();
    assert!(back.search(&[1.0, 2.0, 3.0], 5, None).unwrap().is_empty());
}

#[test]
fn every_byte_flip_and_truncation_is_an_error() {
    let (idx, _) = small_index(Metric::Cosine);
    let bytes = idx.to_bytes(5);
    let mut r = Rng(0xC0FFEE);
    let flips = 400;
    for _ in 0..flips {
        let mut b = bytes.clone();
        let at = r.below(b.len());
        let x = (r.below(255) + 1) as u8;
        b[at] ^= x;
        assert!(
            HnswIndex::load_from_bytes(&b).is_err(),
            "flip of byte {at} (^{x:#x}) was not detected"
        );
    }
    // Multi-byte damage.
    for _ in 0..100 {
        let mut b = bytes.clone();
        for _ in 0..1 + r.below(8) {
            let at = r.below(b.len());
            b[at] = r.next_u64() as u8;
        }
        if b != bytes {
            assert!(HnswIndex::load_from_bytes(&b).is_err());
        }
    }
    let truncs = 300;
    for _ in 0..truncs {
        let at = r.below(bytes.len());
        assert!(
            HnswIndex::load_from_bytes(&bytes[..at]).is_err(),
            "truncation at {at} not detected"
        );
    }
    // Appended garbage.
    let mut b = bytes.clone();
    b.extend_from_slice(&[0, 1, 2]);
    assert!(HnswIndex::load_from_bytes(&b).is_err());
    eprintln!(
        "{flips} flips + 100 multi-byte corruptions + {truncs} truncations of a {} byte snapshot: all rejected",
        bytes.len()
    );
}

#[test]
fn version_and_magic_are_checked() {
    let (idx, _) = small_index(Metric::L2);
    let mut b = idx.to_bytes(0);
    b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert!(matches!(
        HnswIndex::load_from_bytes(&b),
        Err(IndexError::UnsupportedVersion { .. })
    ));
    let mut b = idx.to_bytes(0);
    b[0] = b'X';
    assert!(matches!(
        HnswIndex::load_from_bytes(&b),
        Err(IndexError::BadMagic)
    ));
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        HnswIndex::load(dir.path().join("missing")),
        Err(IndexError::Io { .. })
    ));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let (idx, _) = small_index(Metric::Dot);
    let good = idx.to_bytes(0);
    let mut r = Rng(42);
    for i in 0..2000 {
        let len = r.below(400);
        let mut b: Vec<u8> = (0..len).map(|_| r.next_u64() as u8).collect();
        // Half the inputs start with a valid header prefix to get deeper.
        if i % 2 == 0 {
            let keep = r.below(good.len().min(200));
            b.splice(0..0, good[..keep].iter().copied());
        }
        assert!(HnswIndex::load_from_bytes(&b).is_err());
    }
}
