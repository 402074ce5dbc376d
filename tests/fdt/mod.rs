//! Reading a flattened device tree in the tests that compare trees (shared
//! by the test crates that `mod fdt;` it).

use std::collections::BTreeMap;

/// A flattened device tree as `path/property` -> value.
pub(crate) fn parse(blob: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let be32 = |at: usize| u32::from_be_bytes(blob[at..at + 4].try_into().expect("four bytes"));
    assert_eq!(be32(0), 0xd00d_feed, "a device tree blob");
    let (structs, strings) = (be32(8) as usize, be32(12) as usize);
    let name_at = |at: usize| {
        let end = blob[at..].iter().position(|&b| b == 0).expect("a NUL-terminated name");
        String::from_utf8_lossy(&blob[at..at + end]).into_owned()
    };
    let mut tree = BTreeMap::new();
    let mut path: Vec<String> = Vec::new();
    let mut at = structs;
    loop {
        let token = be32(at);
        at += 4;
        match token {
            1 => {
                let name = name_at(at);
                at += (name.len() + 1).next_multiple_of(4);
                path.push(name);
            }
            2 => {
                path.pop();
            }
            3 => {
                let (len, name_offset) = (be32(at) as usize, be32(at + 4) as usize);
                let value = blob[at + 8..at + 8 + len].to_vec();
                at += 8 + len.next_multiple_of(4);
                let node = path[1..].join("/");
                tree.insert(format!("/{node}/{}", name_at(strings + name_offset)).replace("//", "/"), value);
            }
            4 => {}
            9 => break,
            other => panic!("unexpected token {other} at {at}"),
        }
    }
    tree
}
