//! A minimal MessagePack reader: enough of the format for Flax checkpoints (`flax_model.msgpack`), which are
//! nested maps of strings to arrays stored as extension values.

/// A decoded MessagePack value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Ext(i8, Vec<u8>),
}

/// Where and why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MessagePack: {reason} at byte {offset}")]
pub struct DecodeError {
    pub offset: usize,
    pub reason: String,
}

/// Decodes one value from the start of `bytes` (trailing bytes are an error).
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = Reader { bytes, offset: 0 };
    let value = reader.value()?;
    if reader.offset != bytes.len() {
        return Err(reader.error("trailing bytes after the value"));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Reader<'_> {
    fn error(&self, reason: &str) -> DecodeError {
        DecodeError {
            offset: self.offset,
            reason: reason.into(),
        }
    }

    fn take(&mut self, count: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .offset
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.error("truncated"))?;
        let slice = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(slice)
    }

    fn uint(&mut self, width: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(width)?
            .iter()
            .fold(0_u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn int(&mut self, width: usize) -> Result<i64, DecodeError> {
        let raw = self.uint(width)?;
        let shift = 64 - 8 * width as u32;
        Ok(((raw << shift) as i64) >> shift)
    }

    fn length(&mut self, width: usize) -> Result<usize, DecodeError> {
        let length = self.uint(width)?;
        usize::try_from(length).map_err(|_| self.error("length does not fit in memory"))
    }

    fn string(&mut self, length: usize) -> Result<Value, DecodeError> {
        let bytes = self.take(length)?.to_vec();
        String::from_utf8(bytes)
            .map(Value::Str)
            .map_err(|_| self.error("string is not UTF-8"))
    }

    fn array(&mut self, length: usize) -> Result<Value, DecodeError> {
        // Never pre-allocate from an untrusted length.
        let mut items = Vec::new();
        for _ in 0..length {
            items.push(self.value()?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, length: usize) -> Result<Value, DecodeError> {
        let mut entries = Vec::new();
        for _ in 0..length {
            let key = self.value()?;
            let value = self.value()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }

    fn ext(&mut self, length: usize) -> Result<Value, DecodeError> {
        let kind = self.take(1)?[0] as i8;
        Ok(Value::Ext(kind, self.take(length)?.to_vec()))
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        let marker = self.take(1)?[0];
        match marker {
            0x00..=0x7f => Ok(Value::Int(i128::from(marker))),
            0x80..=0x8f => self.map(usize::from(marker & 0x0f)),
            0x90..=0x9f => self.array(usize::from(marker & 0x0f)),
            0xa0..=0xbf => self.string(usize::from(marker & 0x1f)),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Bool(false)),
            0xc3 => Ok(Value::Bool(true)),
            0xc4..=0xc6 => {
                let length = self.length(1 << (marker - 0xc4))?;
                Ok(Value::Bin(self.take(length)?.to_vec()))
            }
            0xc7..=0xc9 => {
                let length = self.length(1 << (marker - 0xc7))?;
                self.ext(length)
            }
            0xca => Ok(Value::Float(f64::from(
                f32::from_bits(self.uint(4)? as u32),
            ))),
            0xcb => Ok(Value::Float(f64::from_bits(self.uint(8)?))),
            0xcc..=0xcf => Ok(Value::Int(i128::from(self.uint(1 << (marker - 0xcc))?))),
            0xd0..=0xd3 => Ok(Value::Int(i128::from(self.int(1 << (marker - 0xd0))?))),
            0xd4..=0xd8 => self.ext(1 << (marker - 0xd4)),
            0xd9..=0xdb => {
                let length = self.length(1 << (marker - 0xd9))?;
                self.string(length)
            }
            0xdc | 0xdd => {
                let length = self.length(2 << (marker - 0xdc))?;
                self.array(length)
            }
            0xde | 0xdf => {
                let length = self.length(2 << (marker - 0xde))?;
                self.map(length)
            }
            0xe0..=0xff => Ok(Value::Int(i128::from(marker as i8))),
            0xc1 => Err(self.error("reserved marker 0xc1")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_kinds_flax_writes() {
        // {"a": [1, -2, 300], "b": ext(1, b"xy"), "c": bin(b"z"), "d": 1.5}
        let bytes = [
            0x84, 0xa1, b'a', 0x93, 0x01, 0xfe, 0xcd, 0x01, 0x2c, 0xa1, b'b', 0xd5, 0x01, b'x',
            b'y', 0xa1, b'c', 0xc4, 0x01, b'z', 0xa1, b'd', 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
        ];
        let Value::Map(entries) = decode(&bytes).expect("decode") else {
            panic!("not a map")
        };
        assert_eq!(
            entries[0].1,
            Value::Array(vec![Value::Int(1), Value::Int(-2), Value::Int(300)])
        );
        assert_eq!(entries[1].1, Value::Ext(1, b"xy".to_vec()));
        assert_eq!(entries[2].1, Value::Bin(b"z".to_vec()));
        assert_eq!(entries[3].1, Value::Float(1.5));
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        assert!(decode(&[0x92, 0x01]).is_err());
        assert!(decode(&[0xdb, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode(&[0xc1]).is_err());
    }
}
