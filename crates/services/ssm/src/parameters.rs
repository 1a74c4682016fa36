//! Parameters: put, get (one, several, by path), delete, describe, history.

use super::*;

impl Ssm {
    pub(super) fn put_parameter(
        &self,
        ctx: &RequestContext,
        input: PutParameterInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let value = input.value.ok_or_else(|| AwsError::missing("value"))?;
        validate_name(&name)?;
        let name = normalize(&name).to_string();
        if value.is_empty() {
            return Err(AwsError::validation(
                "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.",
            ));
        }
        let kind = match &input.kind {
            None => None,
            Some(t) => Some(ParamType::parse(t).ok_or_else(|| {
                AwsError::validation(format!(
                    "1 validation error detected: Value '{t}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
                ))
            })?),
        };
        if let Some(d) = &input.description
            && d.chars().count() > 1024
        {
            return Err(length_error(d, "description", 1024));
        }
        // Without a tier, the account's default-parameter-tier setting decides.
        let tier_in = input.tier.clone().or_else(|| {
            let d = self.setting_value(ctx, settings::DEFAULT_TIER);
            (d != "Standard").then_some(d)
        });
        if let Some(t) = &tier_in
            && !matches!(t.as_str(), "Standard" | "Advanced" | "Intelligent-Tiering")
        {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{t}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]"
            )));
        }
        let data_type = input.data_type.clone().unwrap_or_else(|| "text".into());
        if !matches!(
            data_type.as_str(),
            "text" | "aws:ec2:image" | "aws:ssm:integration"
        ) {
            return Err(AwsError::validation(format!(
                "The following data type is not supported: {data_type} (Data type names are all lowercase.)"
            )));
        }
        if let Some(k) = &input.key_id
            && (k.is_empty()
                || k.len() > 256
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-')))
        {
            return Err(AwsError::new("InvalidKeyId", format!("Invalid KeyId: {k}")));
        }
        let overwrite = input.overwrite.unwrap_or(false);
        let tags: Vec<(String, String)> = input
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        if overwrite && !tags.is_empty() {
            return Err(AwsError::validation(
                "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
            ));
        }
        if tags.len() > MAX_TAGS {
            return Err(AwsError::new(
                "TooManyTagsError",
                "The Tags parameter contains more than 50 tags.",
            ));
        }
        let pattern = match &input.allowed_pattern {
            None => None,
            Some(p) if p.len() > 1024 => return Err(length_error(p, "allowedPattern", 1024)),
            Some(p) => Some(regex::Regex::new(p).map_err(|_| {
                AwsError::new(
                    "InvalidAllowedPatternException",
                    format!("The allowed pattern {p} is not a valid regular expression."),
                )
            })?),
        };
        if let Some(re) = &pattern
            && !re.is_match(&value)
        {
            return Err(AwsError::new(
                "ParameterPatternMismatchException",
                format!(
                    "Parameter value, cannot be validated against allowedPattern: {}",
                    re.as_str()
                ),
            ));
        }
        let value_len = value.chars().count();
        let tier = match tier_in.as_deref() {
            Some("Advanced") => "Advanced",
            Some("Intelligent-Tiering") if value_len > 4096 => "Advanced",
            _ => "Standard",
        };
        if tier == "Standard" && value_len > 4096 {
            return Err(AwsError::validation(
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html",
            ));
        }
        if value_len > 8192 {
            return Err(AwsError::validation(
                "Advanced tier parameters support a maximum parameter value of 8192 characters.",
            ));
        }
        let k = key(&ctx.partition, &name);
        let user = format!("arn:aws:iam::{}:root", ctx.account());
        let now = now_ms();
        let (result, version) = self.store.write(|txn| {
            let existing = txn.get(&k).and_then(SsmRecord::parameter).cloned();
            let mut param = match existing {
                Some(_) if !overwrite => {
                    return Err(AwsError::new(
                        "ParameterAlreadyExists",
                        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
                    ));
                }
                Some(p) => p,
                None => {
                    if kind.is_none() {
                        return Err(AwsError::validation(
                            "A parameter type is required when you create a parameter.",
                        ));
                    }
                    Parameter {
                        name: name.clone(),
                        tags,
                        versions: Vec::new(),
                    }
                }
            };
            let prev = param.versions.last().cloned();
            let kind = kind
                .or(prev.as_ref().map(|p| p.kind))
                .unwrap_or(ParamType::String);
            if param.versions.len() >= MAX_VERSIONS {
                let oldest = &param.versions[0];
                if !oldest.labels.is_empty() {
                    return Err(AwsError::new(
                        "ParameterMaxVersionLimitExceeded",
                        format!(
                            "You attempted to create a new version of {name} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                            oldest.version
                        ),
                    ));
                }
                param.versions.remove(0);
            }
            let number = prev.as_ref().map_or(1, |p| p.version + 1);
            let tier = match (tier_in.as_deref(), &prev) {
                // An advanced parameter stays advanced.
                // (an advanced parameter can never go back to the standard tier).
                (None | Some("Intelligent-Tiering"), Some(p)) if p.tier == "Advanced" => {
                    "Advanced".to_string()
                }
                _ => tier.to_string(),
            };
            param.versions.push(ParamVersion {
                version: number,
                value: value.clone(),
                kind,
                key_id: if kind == ParamType::SecureString {
                    Some(
                        input
                            .key_id
                            .clone()
                            .or_else(|| prev.as_ref().and_then(|p| p.key_id.clone()))
                            .unwrap_or_else(|| DEFAULT_KEY_ID.to_string()),
                    )
                } else {
                    None
                },
                description: input
                    .description
                    .clone()
                    .or_else(|| prev.as_ref().and_then(|p| p.description.clone())),
                allowed_pattern: input
                    .allowed_pattern
                    .clone()
                    .or_else(|| prev.as_ref().and_then(|p| p.allowed_pattern.clone())),
                tier: tier.clone(),
                data_type: data_type.clone(),
                labels: Vec::new(),
                modified_ms: now,
                modified_user: user.clone(),
            });
            txn.insert(k.clone(), SsmRecord::Parameter(param));
            Ok((number, tier))
        });
        let (number, tier) = result?;
        ok(json!({"Version": number, "Tier": tier}), Some(version))
    }

    pub(super) fn get_parameter(
        &self,
        ctx: &RequestContext,
        input: NameInput,
    ) -> Result<Output, AwsError> {
        let requested = input.name.ok_or_else(|| AwsError::missing("name"))?;
        if requested.len() > MAX_NAME_LEN {
            return Err(length_error(&requested, "name", MAX_NAME_LEN));
        }
        let (name, sel, sel_text) = parse_selector(ctx, &requested)?;
        let snap = self.store.snapshot();
        let p = snap
            .get(&key(&ctx.partition, &name))
            .and_then(SsmRecord::parameter)
            .ok_or_else(|| not_found(&requested))?;
        let v = find_version(p, &sel).ok_or_else(|| {
            version_not_found(
                &name,
                sel_text.as_deref().unwrap_or("").trim_start_matches(':'),
            )
        })?;
        let decrypt = input.with_decryption.unwrap_or(false);
        ok(
            json!({"Parameter": parameter_json(ctx, &p.name, v, decrypt, sel_text.as_deref())}),
            None,
        )
    }

    pub(super) fn get_parameters(
        &self,
        ctx: &RequestContext,
        input: NamesInput,
    ) -> Result<Output, AwsError> {
        let names = input.names.ok_or_else(|| AwsError::missing("names"))?;
        if names.is_empty() || names.len() > 10 {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{names:?}' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1"
            )));
        }
        let decrypt = input.with_decryption.unwrap_or(false);
        let snap = self.store.snapshot();
        let mut found = Vec::new();
        let mut invalid = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for requested in names {
            if !seen.insert(requested.clone()) {
                continue;
            }
            let Ok((name, sel, sel_text)) = parse_selector(ctx, &requested) else {
                invalid.push(requested);
                continue;
            };
            match snap
                .get(&key(&ctx.partition, &name))
                .and_then(SsmRecord::parameter)
                .and_then(|p| find_version(p, &sel).map(|v| (p, v)))
            {
                Some((p, v)) => found.push(parameter_json(
                    ctx,
                    &p.name,
                    v,
                    decrypt,
                    sel_text.as_deref(),
                )),
                None => invalid.push(requested),
            }
        }
        ok(
            json!({"Parameters": found, "InvalidParameters": invalid}),
            None,
        )
    }

    pub(super) fn get_parameters_by_path(
        &self,
        ctx: &RequestContext,
        input: ByPathInput,
    ) -> Result<Output, AwsError> {
        let path = input.path.ok_or_else(|| AwsError::missing("path"))?;
        if path.len() > MAX_NAME_LEN {
            return Err(length_error(&path, "path", MAX_NAME_LEN));
        }
        if !path.starts_with('/') {
            return Err(AwsError::validation(
                "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".",
            ));
        }
        let lower = path.trim_start_matches('/').to_ascii_lowercase();
        if lower.starts_with("aws") || lower.starts_with("ssm") {
            return Err(AwsError::validation(NAME_RULES));
        }
        let max = range_check(input.max_results, "maxResults", 10, 10)?;
        let filters = check_filters(
            input.parameter_filters.as_deref().unwrap_or(&[]),
            FilterScope::ByPath,
        )?;
        let recursive = input.recursive.unwrap_or(false);
        let decrypt = input.with_decryption.unwrap_or(false);
        let prefix = if path.ends_with('/') {
            path.clone()
        } else {
            format!("{path}/")
        };
        // The root path also holds the top-level names stored without a slash (`name`, which
        // `/name` normalizes to), as AWS lists them under `/`.
        let root = prefix == "/";
        let start = match input.next_token.as_deref() {
            None => None,
            Some(t) => {
                let last = unhex(t).ok_or_else(invalid_token)?;
                if !root && !last.starts_with(&prefix) {
                    return Err(invalid_token());
                }
                Some(last)
            }
        };
        let pk = key(&ctx.partition, if root { "" } else { &prefix });
        let (lo, hi) = pk.prefix_range();
        let lo = match &start {
            Some(last) => Bound::Excluded(key(&ctx.partition, last)),
            None => lo,
        };
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut next = None;
        let mut last_name: Option<&str> = None;
        for (_, rec) in snap.range((lo, hi)) {
            // Other records sort after every parameter of the partition.
            let Some(p) = rec.parameter() else { break };
            let rest = if root {
                p.name.trim_start_matches('/')
            } else {
                &p.name[prefix.len().min(p.name.len())..]
            };
            if !recursive && rest.contains('/') {
                continue;
            }
            let Some(v) = matches(p, &filters) else {
                continue;
            };
            if out.len() == max {
                next = last_name.map(hex);
                break;
            }
            out.push(parameter_json(ctx, &p.name, v, decrypt, None));
            last_name = Some(&p.name);
        }
        parameters_page(out, next)
    }

    pub(super) fn delete_parameter(
        &self,
        ctx: &RequestContext,
        input: NameInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let (base, _, _) = parse_selector(ctx, &name).map_err(|_| not_found(&name))?;
        let k = key(&ctx.partition, &base);
        let (removed, version) = self.store.write(|txn| txn.remove(&k).is_some());
        if !removed {
            return Err(not_found(&name));
        }
        ok(json!({}), Some(version))
    }

    pub(super) fn delete_parameters(
        &self,
        ctx: &RequestContext,
        input: NamesInput,
    ) -> Result<Output, AwsError> {
        let names = input.names.ok_or_else(|| AwsError::missing("names"))?;
        if names.is_empty() || names.len() > 10 {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{names:?}' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1"
            )));
        }
        let ((deleted, invalid), version) = self.store.write(|txn| {
            let mut deleted = Vec::new();
            let mut invalid = Vec::new();
            for n in &names {
                let base = parse_selector(ctx, n)
                    .map(|(b, _, _)| b)
                    .unwrap_or_default();
                if !base.is_empty() && txn.remove(&key(&ctx.partition, &base)).is_some() {
                    deleted.push(n.clone());
                } else if !deleted.contains(n) {
                    invalid.push(n.clone());
                }
            }
            (deleted, invalid)
        });
        let wv = (!deleted.is_empty()).then_some(version);
        ok(
            json!({"DeletedParameters": deleted, "InvalidParameters": invalid}),
            wv,
        )
    }

    pub(super) fn describe_parameters(
        &self,
        ctx: &RequestContext,
        input: DescribeInput,
    ) -> Result<Output, AwsError> {
        if input.filters.is_some() && input.parameter_filters.is_some() {
            return Err(AwsError::validation(
                "You can use either Filters or ParameterFilters in a single request.",
            ));
        }
        let max = range_check(input.max_results, "maxResults", 50, 10)?;
        let filters = match (&input.filters, &input.parameter_filters) {
            (Some(old), _) => {
                for f in old {
                    let k = f.key.as_deref().unwrap_or("");
                    if !matches!(k, "Name" | "Type" | "KeyId") {
                        return Err(AwsError::validation(format!(
                            "1 validation error detected: Value '{k}' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [Name, Type, KeyId]"
                        )));
                    }
                }
                let converted: Vec<StringFilter> = old
                    .iter()
                    .map(|f| StringFilter {
                        key: f.key.clone(),
                        option: Some(
                            if f.key.as_deref() == Some("Name") {
                                "BeginsWith"
                            } else {
                                "Equals"
                            }
                            .into(),
                        ),
                        values: f.values.clone(),
                    })
                    .collect();
                check_filters(&converted, FilterScope::Describe)?
            }
            (None, Some(new)) => check_filters(new, FilterScope::Describe)?,
            (None, None) => Vec::new(),
        };
        let prefix = ctx.partition.prefix();
        let (lo, hi) = prefix.prefix_range();
        let lo = match input.next_token.as_deref() {
            None => lo,
            Some(t) => Bound::Excluded(key(&ctx.partition, &unhex(t).ok_or_else(invalid_token)?)),
        };
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut next = None;
        let mut last_name: Option<&str> = None;
        for (_, rec) in snap.range((lo, hi)) {
            // Other records sort after every parameter of the partition.
            let Some(p) = rec.parameter() else { break };
            let Some(v) = matches(p, &filters) else {
                continue;
            };
            if out.len() == max {
                next = last_name.map(hex);
                break;
            }
            out.push(metadata_json(ctx, p, v));
            last_name = Some(&p.name);
        }
        parameters_page(out, next)
    }

    pub(super) fn get_parameter_history(
        &self,
        ctx: &RequestContext,
        input: HistoryInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let max = range_check(input.max_results, "maxResults", 50, 50)?;
        let (base, _, _) = parse_selector(ctx, &name).map_err(|_| not_found(&name))?;
        let snap = self.store.snapshot();
        let p = snap
            .get(&key(&ctx.partition, &base))
            .and_then(SsmRecord::parameter)
            .ok_or_else(|| not_found(&name))?;
        let start: usize = match input.next_token.as_deref() {
            None => 0,
            Some(t) => t
                .parse()
                .ok()
                .filter(|n: &usize| *n > 0 && *n < p.versions.len())
                .ok_or_else(invalid_token)?,
        };
        let decrypt = input.with_decryption.unwrap_or(false);
        let page: Vec<Value> = p
            .versions
            .iter()
            .skip(start)
            .take(max)
            .map(|v| history_json(&p.name, v, decrypt))
            .collect();
        let end = start + page.len();
        parameters_page(page, (end < p.versions.len()).then(|| end.to_string()))
    }
}
