//! A small cache of recent query embeddings: an agent often searches the
//! same text again (a retried turn, a polling loop, the same question in
//! several scopes), and the embedding is most of a search's cost.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Query text → embedding, the least recently used evicted first.
/// `capacity` 0 turns it off.
pub(crate) struct QueryCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    tick: u64,
    map: HashMap<String, (Arc<Vec<f32>>, u64)>,
}

impl QueryCache {
    pub(crate) fn new(capacity: usize) -> QueryCache {
        QueryCache {
            capacity,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// The cached embedding of `query`, or `embed(query)` (cached when it
    /// succeeds; an error is returned and nothing is cached).
    pub(crate) fn get_or_embed<E>(
        &self,
        query: &str,
        embed: impl FnOnce(&str) -> Result<Vec<f32>, E>,
    ) -> Result<Arc<Vec<f32>>, E> {
        if self.capacity == 0 {
            return embed(query).map(Arc::new);
        }
        {
            let mut g = self.inner.lock();
            g.tick += 1;
            let tick = g.tick;
            if let Some((v, used)) = g.map.get_mut(query) {
                *used = tick;
                return Ok(v.clone());
            }
        }
        // Embed outside the lock: concurrent searches do not wait on it.
        let v = Arc::new(embed(query)?);
        let mut g = self.inner.lock();
        if g.map.len() >= self.capacity && !g.map.contains_key(query) {
            let oldest = g
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                g.map.remove(&k);
            }
        }
        g.tick += 1;
        let tick = g.tick;
        g.map.insert(query.to_string(), (v.clone(), tick));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_skip_the_embedder_and_the_oldest_is_evicted() {
        let c = QueryCache::new(2);
        let calls = std::cell::Cell::new(0);
        let embed = |q: &str| -> Result<Vec<f32>, ()> {
            calls.set(calls.get() + 1);
            Ok(vec![q.len() as f32])
        };
        assert_eq!(*c.get_or_embed("a", embed).unwrap(), vec![1.0]);
        c.get_or_embed("bb", embed).unwrap();
        c.get_or_embed("a", embed).unwrap(); // hit; "bb" is now the oldest
        assert_eq!(calls.get(), 2);
        c.get_or_embed("ccc", embed).unwrap(); // evicts "bb"
        c.get_or_embed("a", embed).unwrap();
        assert_eq!(calls.get(), 3);
        c.get_or_embed("bb", embed).unwrap();
        assert_eq!(calls.get(), 4);
        assert!(c.get_or_embed("x", |_| Err::<Vec<f32>, _>("down")).is_err());
        let off = QueryCache::new(0);
        off.get_or_embed("a", embed).unwrap();
        off.get_or_embed("a", embed).unwrap();
        assert_eq!(calls.get(), 6);
    }
}
