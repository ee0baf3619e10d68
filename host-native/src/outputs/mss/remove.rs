//! removeConfig and shutdown: stopping groups and dropping their configs.

use super::records::StopMode;
use super::{OutputManager, RemoveError};

impl OutputManager {
    /// removeConfig by id: stops the group's output (all its configs go, as one createMSSStream
    /// made them together); with `remove_files`, deletes the group folder.
    pub fn remove_config(&self, id: u64, remove_files: bool) -> Result<Vec<u64>, RemoveError> {
        let (ids, saved) = self.remove_unsaved(id, remove_files)?;
        if saved {
            self.save();
        }
        Ok(ids)
    }

    fn remove_unsaved(&self, id: u64, remove_files: bool) -> Result<(Vec<u64>, bool), RemoveError> {
        let mut inner = self.lock();
        let Some(group_id) = inner.configs.get(&id).map(|c| c.group_id) else {
            return Err(RemoveError::ConfigNotFound(id));
        };
        let Some(group) = inner.groups.remove(&group_id) else {
            return Err(RemoveError::ConfigNotFound(id));
        };
        for cid in &group.config_ids {
            inner.configs.remove(cid);
        }
        let _ = group.stop.send(StopMode::Remove {
            delete_files: remove_files,
        });
        Ok((group.config_ids, group.saved))
    }

    /// removeConfig by groupName: every config of the group. Returns the removed ids.
    pub fn remove_group(&self, group: &str, remove_files: bool) -> Result<Vec<u64>, RemoveError> {
        let first = self
            .lock()
            .configs
            .values()
            .find(|c| c.params.group_name == group)
            .map(|c| c.config_id);
        match first {
            Some(id) => self.remove_config(id, remove_files),
            None => Err(RemoveError::GroupNotFound(group.to_string())),
        }
    }
}
