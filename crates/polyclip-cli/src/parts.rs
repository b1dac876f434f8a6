//! `--shard-index I --num-shards N`: one machine's part of an input that several machines prepare or index
//! together. Part `I` of `N` is a contiguous run of the input, in its order (the first `len % N` parts one item
//! more); `polyclip merge-shards` and `polyclip merge-index` put the parts' outputs together.

use std::ops::Range;

use clap::Args;

use crate::error::CliError;

/// This machine's part of the input (all of it without the options).
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct PartArgs {
    /// This machine's part of the input, from 0 (with --num-shards; each machine writes its own --out).
    #[arg(long, value_name = "I", requires = "num_shards")]
    pub shard_index: Option<usize>,
    /// Split the input into N contiguous parts, one per machine; put the outputs together with
    /// `polyclip merge-shards` (prepare) or `polyclip merge-index` (index).
    #[arg(long, value_name = "N", requires = "shard_index")]
    pub num_shards: Option<usize>,
}

impl PartArgs {
    /// The items of a `len`-item input this part takes.
    pub fn range(&self, len: usize) -> Result<Range<usize>, CliError> {
        let (index, parts) = match (self.shard_index, self.num_shards) {
            (Some(index), Some(parts)) => (index, parts),
            _ => return Ok(0..len),
        };
        if parts == 0 || index >= parts {
            return Err(CliError::Usage(format!(
                "--shard-index {index} --num-shards {parts}: the index counts from 0 and stays below the number of parts"
            )));
        }
        let (base, extra) = (len / parts, len % parts);
        let start = index * base + index.min(extra);
        Ok(start..start + base + usize::from(index < extra))
    }
}

#[cfg(test)]
mod tests {
    use super::PartArgs;

    fn part(index: usize, parts: usize) -> PartArgs {
        PartArgs {
            shard_index: Some(index),
            num_shards: Some(parts),
        }
    }

    #[test]
    fn the_parts_cover_the_input_once_in_order_the_first_ones_one_more() {
        let ranges: Vec<_> = (0..3)
            .map(|i| part(i, 3).range(10).expect("a part"))
            .collect();
        assert_eq!(ranges, vec![0..4, 4..7, 7..10]);
        assert_eq!(PartArgs::default().range(10).expect("all"), 0..10);
        assert_eq!(part(4, 5).range(3).expect("an empty part"), 3..3);
        assert_eq!(
            part(2, 2).range(10).expect_err("refused").to_string(),
            "--shard-index 2 --num-shards 2: the index counts from 0 and stays below the number of parts"
        );
    }
}
