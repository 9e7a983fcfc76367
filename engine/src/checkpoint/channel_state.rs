//! The in-flight data of an unaligned checkpoint, for one subtask: records its
//! input channels delivered after its snapshot but sent before their barriers,
//! and records still queued in its own output when it snapshotted. On recovery
//! the first are processed before any new input and the second are sent before
//! any new output, so every record is processed exactly once.

use crate::error::{Error, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// In-flight records of one subtask.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ChannelState<I, O> {
    /// Per input channel (in the task's channel order).
    pub inputs: Vec<Vec<I>>,
    /// Per output edge, per channel.
    pub outputs: Vec<Vec<Vec<O>>>,
}

impl<I: Serialize + DeserializeOwned, O: Serialize + DeserializeOwned> ChannelState<I, O> {
    /// Records held, inputs and outputs.
    pub fn records(&self) -> usize {
        self.inputs.iter().map(Vec::len).sum::<usize>()
            + self.outputs.iter().flatten().map(Vec::len).sum::<usize>()
    }

    /// Bytes for the state file; empty when there is nothing in flight.
    pub fn encode(&self) -> Result<Vec<u8>> {
        if self.records() == 0 {
            return Ok(Vec::new());
        }
        Ok(bincode::serialize(self)?)
    }

    /// Reads what [`Self::encode`] wrote, checking it fits a task with
    /// `inputs` input channels and `outputs` channels per output edge:
    /// in-flight data cannot be redistributed after a change of parallelism.
    pub fn decode(bytes: &[u8], inputs: usize, outputs: &[usize]) -> Result<Option<Self>> {
        if bytes.is_empty() {
            return Ok(None);
        }
        let s: Self = bincode::deserialize(bytes)?;
        let shape: Vec<usize> = s.outputs.iter().map(Vec::len).collect();
        if s.inputs.len() != inputs || shape != outputs {
            return Err(Error::Checkpoint(format!(
                "the checkpoint holds in-flight records for {} input channels and output \
                 channels {shape:?}, but this subtask has {inputs} and {outputs:?}: an \
                 unaligned checkpoint can only be restored with the parallelism it was taken at",
                s.inputs.len()
            )));
        }
        Ok(Some(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_different_shape() {
        let s = ChannelState::<u32, String> {
            inputs: vec![vec![1, 2], vec![]],
            outputs: vec![vec![vec!["a".into()], vec![]]],
        };
        let b = s.encode().unwrap();
        assert_eq!(ChannelState::decode(&b, 2, &[2]).unwrap(), Some(s));
        let err = ChannelState::<u32, String>::decode(&b, 3, &[2]).unwrap_err();
        assert!(err.to_string().contains("parallelism"), "{err}");
        let empty = ChannelState::<u32, String> {
            inputs: vec![vec![]],
            outputs: vec![],
        };
        assert!(empty.encode().unwrap().is_empty());
    }
}
