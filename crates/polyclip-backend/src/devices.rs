//! `--devices cuda:0,cuda:1`: the devices of a data-parallel run, all of one backend.

use burn::tensor::backend::{DeviceId, DeviceOps};

use crate::BackendKind;

/// The devices `--devices` names: a backend and the ordinals of its devices (`ndarray:0,ndarray:1` and
/// `flex:0,flex:1` put several peers on the one CPU device, for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceList {
    pub kind: BackendKind,
    pub ordinals: Vec<u16>,
}

/// Why a `--devices` value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--devices `{text}`: {reason} (expected a list like cuda:0,cuda:1)")]
pub struct DeviceListError {
    text: String,
    reason: String,
}

impl std::str::FromStr for DeviceList {
    type Err = DeviceListError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| DeviceListError {
            text: text.to_owned(),
            reason,
        };
        let mut kind = None;
        let mut ordinals = Vec::new();
        for item in text.split(',') {
            let (name, ordinal) = item
                .split_once(':')
                .ok_or_else(|| error(format!("`{item}` has no `:ordinal`")))?;
            let item_kind =
                <BackendKind as clap::ValueEnum>::from_str(name, false).map_err(|_| {
                    error(format!(
                        "`{name}` is not a backend (ndarray, flex, cuda, tch)"
                    ))
                })?;
            if kind.is_some_and(|kind| kind != item_kind) {
                return Err(error("the devices are of different backends".into()));
            }
            kind = Some(item_kind);
            let ordinal: u16 = ordinal
                .parse()
                .map_err(|_| error(format!("`{ordinal}` is not a device number")))?;
            if ordinals.contains(&ordinal)
                && !matches!(item_kind, BackendKind::Ndarray | BackendKind::Flex)
            {
                return Err(error(format!("device {name}:{ordinal} is named twice")));
            }
            ordinals.push(ordinal);
        }
        match kind {
            Some(kind) => Ok(Self { kind, ordinals }),
            None => Err(error("no device".into())),
        }
    }
}

impl DeviceList {
    /// The devices of the list on the backend whose default device is `primary` (the same kind of device, by
    /// ordinal; the CPU backends have one device, which every peer shares).
    pub fn devices<D: DeviceOps>(&self, primary: &D) -> Vec<D> {
        let type_id = primary.to_id().type_id;
        self.ordinals
            .iter()
            .map(|&index_id| D::from_id(DeviceId { type_id, index_id }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::DeviceList;
    use crate::BackendKind;

    #[test]
    fn a_device_list_names_one_backend_and_its_ordinals() {
        assert_eq!(
            "cuda:0,cuda:1".parse::<DeviceList>(),
            Ok(DeviceList {
                kind: BackendKind::Cuda,
                ordinals: vec![0, 1]
            })
        );
        assert_eq!(
            "cuda:0,flex:1"
                .parse::<DeviceList>()
                .map_err(|e| e.to_string()),
            Err("--devices `cuda:0,flex:1`: the devices are of different backends (expected a list like \
                 cuda:0,cuda:1)"
                .into())
        );
        assert_eq!(
            "cuda:0,cuda:0"
                .parse::<DeviceList>()
                .map_err(|e| e.to_string()),
            Err("--devices `cuda:0,cuda:0`: device cuda:0 is named twice (expected a list like cuda:0,cuda:1)".into())
        );
        assert!("gpu:0".parse::<DeviceList>().is_err());
    }
}
