//! Walking MessagePack without decoding it: the length of a value and the
//! entries of a map, so that a reader can pick some fields of a stored
//! request and step over its view (verify reads every request's pointers,
//! and decoding each view only to drop it costs more than the rest).

/// The length in bytes of the MessagePack value at the start of `bytes`
/// (nested maps and arrays included), or `None` when it is truncated or
/// holds the never-used marker `0xc1`. Iterative: no depth limit is needed.
pub fn value_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    // Values still to step over at this point.
    let mut pending: usize = 1;
    while pending > 0 {
        pending -= 1;
        let marker = *bytes.get(at)?;
        at += 1;
        // (bytes of length field, extra header bytes, fixed payload, items)
        let (length, extra, fixed, items) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0, 0, 0),
            0x80..=0x8f => (0, 0, 0, 2 * usize::from(marker & 0x0f)),
            0x90..=0x9f => (0, 0, 0, usize::from(marker & 0x0f)),
            0xa0..=0xbf => (0, 0, usize::from(marker & 0x1f), 0),
            0xc1 => return None,
            // bin 8/16/32, str 8/16/32: a length, then that many bytes.
            0xc4 | 0xd9 => (1, 0, 0, 0),
            0xc5 | 0xda => (2, 0, 0, 0),
            0xc6 | 0xdb => (4, 0, 0, 0),
            // ext 8/16/32: a length, a type byte, the data.
            0xc7 => (1, 1, 0, 0),
            0xc8 => (2, 1, 0, 0),
            0xc9 => (4, 1, 0, 0),
            0xca => (0, 0, 4, 0),
            0xcb => (0, 0, 8, 0),
            0xcc | 0xd0 => (0, 0, 1, 0),
            0xcd | 0xd1 => (0, 0, 2, 0),
            0xce | 0xd2 => (0, 0, 4, 0),
            0xcf | 0xd3 => (0, 0, 8, 0),
            // fixext 1/2/4/8/16: a type byte, the data.
            0xd4 => (0, 0, 2, 0),
            0xd5 => (0, 0, 3, 0),
            0xd6 => (0, 0, 5, 0),
            0xd7 => (0, 0, 9, 0),
            0xd8 => (0, 0, 17, 0),
            // array 16/32, map 16/32: a count of items (pairs for a map).
            0xdc..=0xdf => {
                let width = if matches!(marker, 0xdc | 0xde) { 2 } else { 4 };
                let count = big_endian(bytes.get(at..at + width)?);
                at += width;
                let items = if marker >= 0xde {
                    count.checked_mul(2)?
                } else {
                    count
                };
                (0, 0, 0, items)
            }
        };
        let payload = if length > 0 {
            let n = big_endian(bytes.get(at..at + length)?);
            at += length;
            n
        } else {
            fixed
        };
        at = at.checked_add(extra)?.checked_add(payload)?;
        pending = pending.checked_add(items)?;
        // Every pending value takes at least a byte: a count larger than
        // what is left is truncated input, not a reason to loop.
        if at > bytes.len() || pending > bytes.len() - at {
            return None;
        }
    }
    Some(at)
}

/// The entries of the MessagePack map at the start of `bytes`, keys as
/// UTF-8 and values as their undecoded bytes; `None` when `bytes` does not
/// start with a map of string keys, or is truncated.
pub fn map_entries(bytes: &[u8]) -> Option<Vec<(&str, &[u8])>> {
    let marker = *bytes.first()?;
    let (count, mut at) = match marker {
        0x80..=0x8f => (usize::from(marker & 0x0f), 1),
        0xde => (big_endian(bytes.get(1..3)?), 3),
        0xdf => (big_endian(bytes.get(1..5)?), 5),
        _ => return None,
    };
    if count > bytes.len() {
        return None;
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let marker = *bytes.get(at)?;
        let (header, length) = match marker {
            0xa0..=0xbf => (1, usize::from(marker & 0x1f)),
            0xd9 => (2, big_endian(bytes.get(at + 1..at + 2)?)),
            0xda => (3, big_endian(bytes.get(at + 1..at + 3)?)),
            0xdb => (5, big_endian(bytes.get(at + 1..at + 5)?)),
            _ => return None,
        };
        let start = at + header;
        let key = std::str::from_utf8(bytes.get(start..start.checked_add(length)?)?).ok()?;
        at = start + length;
        let value_len = value_len(bytes.get(at..)?)?;
        entries.push((key, &bytes[at..at + value_len]));
        at += value_len;
    }
    Some(entries)
}

fn big_endian(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .fold(0usize, |n, byte| (n << 8) | usize::from(*byte))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encoded(value: &impl serde::Serialize) -> Vec<u8> {
        rmp_serde::to_vec_named(value).unwrap()
    }

    #[test]
    fn the_length_of_every_kind_of_value() {
        let big_text = "x".repeat(70_000);
        let values = [
            json!(null),
            json!(true),
            json!(0),
            json!(127),
            json!(128),
            json!(-1),
            json!(-33),
            json!(-129),
            json!(70_000),
            json!(-70_000),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(""),
            json!("a".repeat(31)),
            json!("a".repeat(32)),
            json!("a".repeat(300)),
            json!(big_text),
            json!([]),
            json!((0..20).collect::<Vec<_>>()),
            json!((0..70_000).map(|i| i % 3).collect::<Vec<_>>()),
            json!({}),
            json!({"a": {"b": [1, {"c": "d"}], "e": null}, "f": [[], {}]}),
            json!((0..20)
                .map(|i| (i.to_string(), json!(i)))
                .collect::<serde_json::Map<_, _>>()),
        ];
        for value in &values {
            let bytes = encoded(value);
            assert_eq!(value_len(&bytes), Some(bytes.len()), "{value:.80}");
            // Followed by anything, only the value counts.
            let mut longer = bytes.clone();
            longer.extend_from_slice(&[0x93, 1, 2, 3]);
            assert_eq!(value_len(&longer), Some(bytes.len()));
            // Cut anywhere, it is truncated.
            for cut in [0, bytes.len() / 2, bytes.len() - 1] {
                assert_eq!(value_len(&bytes[..cut]), None, "{value:.80} cut at {cut}");
            }
        }
        // bin, ext and fixext markers (serde_json values have none).
        let with = |header: &[u8], data: usize| {
            let mut bytes = header.to_vec();
            bytes.extend(std::iter::repeat_n(9u8, data));
            bytes
        };
        let others = [
            with(&[0xc4, 200], 200),
            with(&[0xc5, 0x01, 0x2c], 300),
            with(&[0xc6, 0, 1, 0x11, 0x70], 70_000),
            with(&[0xd4, 5], 1),
            with(&[0xd5, 5], 2),
            with(&[0xd6, 5], 4),
            with(&[0xd7, 5], 8),
            with(&[0xd8, 5], 16),
            with(&[0xc7, 3, 5], 3),
            with(&[0xc8, 0x01, 0x2c, 5], 300),
            with(&[0xc9, 0, 1, 0x11, 0x70, 5], 70_000),
            with(&[0xca], 4),
            with(&[0xcb], 8),
        ];
        for bytes in &others {
            assert_eq!(value_len(bytes), Some(bytes.len()), "{:x?}", &bytes[..2]);
            assert_eq!(value_len(&bytes[..bytes.len() - 1]), None);
        }
        assert_eq!(value_len(&[0xc1]), None);
        // A count far beyond the input is refused at once.
        assert_eq!(value_len(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0]), None);
        assert_eq!(value_len(&[0xdf, 0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn map_entries_are_the_keys_and_their_undecoded_values() {
        let value = json!({"record": {"x": [1, 2, {"y": "z"}]}, "chain": {"nextIndex": 3}, "audit": [4, 9]});
        let bytes = encoded(&value);
        let entries = map_entries(&bytes).unwrap();
        let mut keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["audit", "chain", "record"]);
        for (key, raw) in entries {
            let decoded: serde_json::Value = rmp_serde::from_slice(raw).unwrap();
            assert_eq!(decoded, value[key]);
        }
        assert_eq!(map_entries(&encoded(&json!([1]))), None);
        assert_eq!(map_entries(&bytes[..bytes.len() - 1]), None);
        // A key that is not a string.
        assert_eq!(map_entries(&[0x81, 0x01, 0x02]), None);
    }
}
