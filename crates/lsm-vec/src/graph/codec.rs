//! Byte encodings of every LSM record (see docs/format.md). All integers little-endian except
//! keys, which are big-endian so that ids sort numerically.

/// `NodeRecord::slot` of a node planned in a transaction whose vector slot is not chosen yet
/// (never committed: the slot is set before the commit).
pub(crate) const UNPLACED: u32 = u32::MAX;

/// A node of the node table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeRecord {
    pub ext_id: u64,
    pub slot: u32,
    pub level: u8,
    /// [`crate::vectors::checksum`] of the vector stored in `slot`.
    pub checksum: u32,
    /// For an exact duplicate of a graph node (a *twin*): that node. A twin has its own slot
    /// but no lists; searches return it wherever its head is returned.
    pub head: Option<u32>,
    /// Deleted, its repair pending (format 3): the node still routes searches and keeps its
    /// lists and slot, but its caller id is gone and it is never returned.
    pub deleted: bool,
}

pub(crate) fn key_u32(id: u32) -> [u8; 4] {
    id.to_be_bytes()
}

pub(crate) fn decode_key_u32(k: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(k.try_into().ok()?))
}

/// Adjacency list: u32 ids, little-endian, nothing else (the count is the length / 4).
pub(crate) fn encode_list(list: &[u32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(list.len() * 4);
    for id in list {
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

pub(crate) fn decode_list(b: &[u8]) -> Option<Vec<u32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    Some(b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Node record (formats 2 and 3): ext_id u64, slot u32, level u8, flags u8 (bit 0: twin; bit
/// 1: deleted, repair pending, format 3 only), checksum u32, then the head's internal id u32
/// for a twin (18 or 22 bytes). A twin is never marked deleted.
pub(crate) fn encode_node(n: &NodeRecord) -> Vec<u8> {
    let mut b = Vec::with_capacity(22);
    b.extend_from_slice(&n.ext_id.to_le_bytes());
    b.extend_from_slice(&n.slot.to_le_bytes());
    b.push(n.level);
    b.push(n.head.is_some() as u8 | (n.deleted as u8) << 1);
    b.extend_from_slice(&n.checksum.to_le_bytes());
    if let Some(h) = n.head {
        b.extend_from_slice(&h.to_le_bytes());
    }
    b
}

pub(crate) fn decode_node(b: &[u8]) -> Option<NodeRecord> {
    if b.len() < 18 {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let (head, deleted) = match (b[13], b.len()) {
        (0, 18) => (None, false),
        (2, 18) => (None, true),
        (1, 22) => (Some(u32_at(18)), false),
        _ => return None,
    };
    Some(NodeRecord {
        ext_id: u64::from_le_bytes(b[0..8].try_into().ok()?),
        slot: u32_at(8),
        level: b[12],
        checksum: u32_at(14),
        head,
        deleted,
    })
}

/// Node record of format 1 (ext_id u64, slot u32, level u8; read only, for migration): the
/// checksum is filled in by the migration.
pub(crate) fn decode_node_v1(b: &[u8]) -> Option<NodeRecord> {
    if b.len() != 13 {
        return None;
    }
    Some(NodeRecord {
        ext_id: u64::from_le_bytes(b[0..8].try_into().ok()?),
        slot: u32::from_le_bytes(b[8..12].try_into().ok()?),
        level: b[12],
        checksum: 0,
        head: None,
        deleted: false,
    })
}

/// Upper-layer record of a node of level L >= 1: L lists (levels 1..=L), each a u16 count
/// followed by that many u32 ids.
pub(crate) fn encode_upper(lists: &[Vec<u32>]) -> Vec<u8> {
    let mut v = Vec::new();
    v.push(lists.len() as u8);
    for l in lists {
        v.extend_from_slice(&(l.len() as u16).to_le_bytes());
        for id in l {
            v.extend_from_slice(&id.to_le_bytes());
        }
    }
    v
}

pub(crate) fn decode_upper(b: &[u8]) -> Option<Vec<Vec<u32>>> {
    let (&n, mut rest) = b.split_first()?;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        if rest.len() < 2 {
            return None;
        }
        let c = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        rest = &rest[2..];
        if rest.len() < c * 4 {
            return None;
        }
        out.push(decode_list(&rest[..c * 4])?);
        rest = &rest[c * 4..];
    }
    if !rest.is_empty() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let l = vec![1u32, 7, u32::MAX];
        assert_eq!(decode_list(&encode_list(&l)).unwrap(), l);
        let n = NodeRecord { ext_id: u64::MAX, slot: 42, level: 3, checksum: 0xdead_beef, head: None, deleted: false };
        let d = NodeRecord { deleted: true, ..n };
        assert_eq!(decode_node(&encode_node(&d)), Some(d));
        assert_eq!(encode_node(&d).len(), 18);
        assert_eq!(decode_node(&encode_node(&n)).unwrap(), n);
        let t = NodeRecord { head: Some(7), level: 0, ..n };
        assert_eq!(encode_node(&t).len(), 22);
        assert_eq!(decode_node(&encode_node(&t)).unwrap(), t);
        assert!(decode_node(&encode_node(&n)[..17]).is_none());
        let mut bad_flag = encode_node(&n);
        bad_flag[13] = 1;
        assert!(decode_node(&bad_flag).is_none());
        let v1 = decode_node_v1(&[1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2]).unwrap();
        assert_eq!((v1.ext_id, v1.slot, v1.level), (1, 5, 2));
        let u = vec![vec![1, 2], vec![], vec![9]];
        assert_eq!(decode_upper(&encode_upper(&u)).unwrap(), u);
        assert!(decode_upper(&[2, 1, 0]).is_none());
        assert!(decode_list(&[1, 2, 3]).is_none());
        assert_eq!(decode_key_u32(&key_u32(0x01020304)), Some(0x01020304));
    }
}
