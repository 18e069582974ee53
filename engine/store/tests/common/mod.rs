//! Shared test helpers: a deterministic PRNG and store constructors.
#![allow(dead_code, clippy::unwrap_used)]

use memlayer_store::{DurabilityMode, Store, StoreConfig};

pub const DIMS: u32 = 4;
pub const MODEL: &str = "test-model";

/// SplitMix64: small, deterministic, good enough for tests.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() as f64 / u64::MAX as f64) < p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn vector(&mut self) -> Vec<f32> {
        (0..DIMS)
            .map(|_| (self.next_u64() % 2000) as f32 / 1000.0 - 1.0)
            .collect()
    }
}

pub fn open(path: &std::path::Path) -> Store {
    Store::open(path, StoreConfig::new(MODEL, DIMS)).unwrap()
}

pub fn open_fast(path: &std::path::Path) -> Store {
    Store::open(
        path,
        StoreConfig::new(MODEL, DIMS).with_durability(DurabilityMode::None),
    )
    .unwrap()
}

pub fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}
