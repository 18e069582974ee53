//! Arbitrary repository ids, revisions and file names from configuration must
//! never resolve to a path outside the hub cache, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memlayer_models::HubSource;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let mut parts = s.splitn(3, '\n');
    let (repo, rev, file) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let root = std::env::temp_dir().join("memlayer-fuzz-hub");
    let mut h = HubSource::new(repo).with_cache_dir(&root).offline(true);
    h.revision = Some(rev.to_string());
    if let Some(p) = h.cached_file(file) {
        let canon = p.canonicalize().unwrap_or(p.clone());
        let root = root.canonicalize().unwrap_or(root);
        assert!(canon.starts_with(&root), "{} escaped {}", canon.display(), root.display());
    }
});
