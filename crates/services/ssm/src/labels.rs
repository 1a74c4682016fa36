//! Labels on parameter versions.

use super::*;

impl Ssm {
    pub(super) fn label_parameter_version(
        &self,
        ctx: &RequestContext,
        input: LabelInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let labels = input.labels.ok_or_else(|| AwsError::missing("labels"))?;
        if labels.is_empty() || labels.len() > 10 {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{labels:?}' at 'labels' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1"
            )));
        }
        let (base, _, _) = parse_selector(ctx, &name).map_err(|_| not_found(&name))?;
        let k = key(&ctx.partition, &base);
        let (result, version) = self.store.write(|txn| {
            let mut p = txn
                .get(&k)
                .and_then(SsmRecord::parameter)
                .cloned()
                .ok_or_else(|| not_found(&name))?;
            let target = match input.parameter_version {
                None => p.latest().map(|v| v.version).ok_or_else(|| not_found(&name))?,
                Some(n) => u64::try_from(n)
                    .ok()
                    .filter(|n| p.versions.iter().any(|v| v.version == *n))
                    .ok_or_else(|| version_not_found(&name, &n.to_string()))?,
            };
            let (valid, invalid): (Vec<String>, Vec<String>) =
                labels.iter().cloned().partition(|l| valid_label(l));
            let mut changed = false;
            for v in &mut p.versions {
                if v.version == target {
                    for l in &valid {
                        if !v.labels.contains(l) {
                            v.labels.push(l.clone());
                            changed = true;
                        }
                    }
                    if v.labels.len() > MAX_LABELS_PER_VERSION {
                        return Err(AwsError::new(
                            "ParameterVersionLabelLimitExceeded",
                            "A parameter version can have maximum 10 labels.Move one or more labels to another version and try again.",
                        ));
                    }
                } else {
                    let before = v.labels.len();
                    v.labels.retain(|l| !valid.contains(l));
                    changed |= v.labels.len() != before;
                }
            }
            if changed {
                txn.insert(k.clone(), SsmRecord::Parameter(p));
            }
            Ok((invalid, target, changed))
        });
        let (invalid, target, changed) = result?;
        ok(
            json!({"InvalidLabels": invalid, "ParameterVersion": target}),
            changed.then_some(version),
        )
    }

    pub(super) fn unlabel_parameter_version(
        &self,
        ctx: &RequestContext,
        input: LabelInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let wanted = input
            .parameter_version
            .ok_or_else(|| AwsError::missing("parameterVersion"))?;
        let labels = input.labels.ok_or_else(|| AwsError::missing("labels"))?;
        let (base, _, _) = parse_selector(ctx, &name).map_err(|_| not_found(&name))?;
        let k = key(&ctx.partition, &base);
        let (result, version) = self.store.write(|txn| {
            let mut p = txn
                .get(&k)
                .and_then(SsmRecord::parameter)
                .cloned()
                .ok_or_else(|| not_found(&name))?;
            let v = u64::try_from(wanted)
                .ok()
                .and_then(|n| p.versions.iter_mut().find(|v| v.version == n))
                .ok_or_else(|| version_not_found(&name, &wanted.to_string()))?;
            let (removed, invalid): (Vec<String>, Vec<String>) =
                labels.iter().cloned().partition(|l| v.labels.contains(l));
            v.labels.retain(|l| !removed.contains(l));
            let changed = !removed.is_empty();
            if changed {
                txn.insert(k.clone(), SsmRecord::Parameter(p));
            }
            Ok((removed, invalid, changed))
        });
        let (removed, invalid, changed) = result?;
        ok(
            json!({"RemovedLabels": removed, "InvalidLabels": invalid}),
            changed.then_some(version),
        )
    }
}
