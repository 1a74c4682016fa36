//! The dispatch of the operations whose handlers take the input as a JSON value (associations,
//! OpsItems, patch baselines, settings, inventory, compliance, activations, ...).

use super::*;

type Handler = fn(&Ssm, &RequestContext, &Value) -> Result<Output, AwsError>;

fn handler(op: &str) -> Option<Handler> {
    Some(match op {
        "CreateAssociation" => Ssm::create_association,
        "CreateAssociationBatch" => Ssm::create_association_batch,
        "DescribeAssociation" => Ssm::describe_association,
        "UpdateAssociation" => Ssm::update_association,
        "UpdateAssociationStatus" => Ssm::update_association_status,
        "DeleteAssociation" => Ssm::delete_association,
        "ListAssociations" => Ssm::list_associations,
        "ListAssociationVersions" => Ssm::list_association_versions,
        "DescribeAssociationExecutions" => Ssm::describe_association_executions,
        "DescribeAssociationExecutionTargets" => Ssm::describe_association_execution_targets,
        "StartAssociationsOnce" => Ssm::start_associations_once,
        "DescribeEffectiveInstanceAssociations" => Ssm::describe_effective_instance_associations,
        "DescribeInstanceAssociationsStatus" => Ssm::describe_instance_associations_status,
        "CreateActivation" => Ssm::create_activation,
        "DescribeActivations" => Ssm::describe_activations,
        "DeleteActivation" => Ssm::delete_activation,
        "DescribeInstanceInformation" => Ssm::describe_instance_information,
        "DeregisterManagedInstance" => Ssm::deregister_managed_instance,
        "UpdateManagedInstanceRole" => Ssm::update_managed_instance_role,
        "CreateResourceDataSync" => Ssm::create_resource_data_sync,
        "ListResourceDataSync" => Ssm::list_resource_data_sync,
        "UpdateResourceDataSync" => Ssm::update_resource_data_sync,
        "DeleteResourceDataSync" => Ssm::delete_resource_data_sync,
        "CreateOpsItem" => Ssm::create_ops_item,
        "GetOpsItem" => Ssm::get_ops_item,
        "UpdateOpsItem" => Ssm::update_ops_item,
        "DeleteOpsItem" => Ssm::delete_ops_item,
        "DescribeOpsItems" => Ssm::describe_ops_items,
        "AssociateOpsItemRelatedItem" => Ssm::associate_ops_item_related_item,
        "DisassociateOpsItemRelatedItem" => Ssm::disassociate_ops_item_related_item,
        "ListOpsItemRelatedItems" => Ssm::list_ops_item_related_items,
        "ListOpsItemEvents" => Ssm::list_ops_item_events,
        "GetOpsSummary" => Ssm::get_ops_summary,
        "CreateOpsMetadata" => Ssm::create_ops_metadata,
        "GetOpsMetadata" => Ssm::get_ops_metadata,
        "UpdateOpsMetadata" => Ssm::update_ops_metadata,
        "DeleteOpsMetadata" => Ssm::delete_ops_metadata,
        "ListOpsMetadata" => Ssm::list_ops_metadata,
        "CreatePatchBaseline" => Ssm::create_patch_baseline,
        "GetPatchBaseline" => Ssm::get_patch_baseline,
        "UpdatePatchBaseline" => Ssm::update_patch_baseline,
        "DeletePatchBaseline" => Ssm::delete_patch_baseline,
        "DescribePatchBaselines" => Ssm::describe_patch_baselines,
        "RegisterDefaultPatchBaseline" => Ssm::register_default_patch_baseline,
        "GetDefaultPatchBaseline" => Ssm::get_default_patch_baseline,
        "RegisterPatchBaselineForPatchGroup" => Ssm::register_patch_baseline_for_patch_group,
        "DeregisterPatchBaselineForPatchGroup" => Ssm::deregister_patch_baseline_for_patch_group,
        "GetPatchBaselineForPatchGroup" => Ssm::get_patch_baseline_for_patch_group,
        "DescribePatchGroups" => Ssm::describe_patch_groups,
        "DescribePatchGroupState" => Ssm::describe_patch_group_state,
        "DescribePatchProperties" => Ssm::describe_patch_properties,
        "DescribeAvailablePatches" => Ssm::describe_available_patches,
        "GetServiceSetting" => Ssm::get_service_setting,
        "UpdateServiceSetting" => Ssm::update_service_setting,
        "ResetServiceSetting" => Ssm::reset_service_setting,
        "PutResourcePolicy" => Ssm::put_resource_policy,
        "GetResourcePolicies" => Ssm::get_resource_policies,
        "DeleteResourcePolicy" => Ssm::delete_resource_policy,
        "UpdateDocumentMetadata" => Ssm::update_document_metadata,
        "ListDocumentMetadataHistory" => Ssm::list_document_metadata_history,
        "GetCalendarState" => Ssm::get_calendar_state,
        "UpdateMaintenanceWindowTarget" => Ssm::update_maintenance_window_target,
        "UpdateMaintenanceWindowTask" => Ssm::update_maintenance_window_task,
        "GetMaintenanceWindowTask" => Ssm::get_maintenance_window_task,
        "DescribeMaintenanceWindowsForTarget" => Ssm::describe_maintenance_windows_for_target,
        "DescribeMaintenanceWindowSchedule" => Ssm::describe_maintenance_window_schedule,
        "PutInventory" => Ssm::put_inventory,
        "GetInventory" => Ssm::get_inventory,
        "GetInventorySchema" => Ssm::get_inventory_schema,
        "ListInventoryEntries" => Ssm::list_inventory_entries,
        "DeleteInventory" => Ssm::delete_inventory,
        "DescribeInventoryDeletions" => Ssm::describe_inventory_deletions,
        "PutComplianceItems" => Ssm::put_compliance_items,
        "ListComplianceItems" => Ssm::list_compliance_items,
        "ListComplianceSummaries" => Ssm::list_compliance_summaries,
        "ListResourceComplianceSummaries" => Ssm::list_resource_compliance_summaries,
        "DescribeInstancePatchStates" => Ssm::describe_instance_patch_states,
        "DescribeInstancePatchStatesForPatchGroup" => {
            Ssm::describe_instance_patch_states_for_patch_group
        }
        "DescribeInstancePatches" => Ssm::describe_instance_patches,
        "DescribeEffectivePatchesForPatchBaseline" => {
            Ssm::describe_effective_patches_for_patch_baseline
        }
        "DescribeMaintenanceWindowExecutions" => Ssm::describe_maintenance_window_executions,
        "GetMaintenanceWindowExecution" => Ssm::get_maintenance_window_execution,
        "CancelMaintenanceWindowExecution"
        | "DescribeMaintenanceWindowExecutionTasks"
        | "GetMaintenanceWindowExecutionTask"
        | "DescribeMaintenanceWindowExecutionTaskInvocations"
        | "GetMaintenanceWindowExecutionTaskInvocation" => Ssm::window_execution_children,
        "DescribeSessions" => Ssm::describe_sessions,
        "StartSession" => Ssm::start_session,
        "StartAccessRequest" => Ssm::start_access_request,
        "GetAccessToken" => Ssm::get_access_token,
        "GetDeployablePatchSnapshotForInstance" => Ssm::get_deployable_patch_snapshot_for_instance,
        "StartExecutionPreview" => Ssm::start_execution_preview,
        "GetExecutionPreview" => Ssm::get_execution_preview,
        "StartAutomationExecution" => Ssm::start_automation_execution,
        "StartChangeRequestExecution" => Ssm::start_change_request_execution,
        "GetAutomationExecution" => Ssm::get_automation_execution,
        "DescribeAutomationExecutions" => Ssm::describe_automation_executions,
        "DescribeAutomationStepExecutions" => Ssm::describe_automation_step_executions,
        "StopAutomationExecution" => Ssm::stop_automation_execution,
        "SendAutomationSignal" => Ssm::send_automation_signal,
        "TerminateSession" => Ssm::terminate_session,
        "ResumeSession" => Ssm::resume_session,
        "GetConnectionStatus" => Ssm::get_connection_status,
        "DescribeInstanceProperties" => Ssm::describe_instance_properties,
        "ListNodes" => Ssm::list_nodes,
        "ListNodesSummary" => Ssm::list_nodes_summary,
        _ => return None,
    })
}

impl Ssm {
    /// Run `op` if it is one of these operations.
    pub(super) fn handle_wide(
        &self,
        ctx: &RequestContext,
        op: &str,
        body: &Body<'_>,
    ) -> Option<Result<Output, AwsError>> {
        let f = handler(op)?;
        Some(parse::<Value>(body).and_then(|v| {
            let v = if v.is_null() { json!({}) } else { v };
            f(self, ctx, &v).map_err(|e| token_error(op, e))
        }))
    }
}

/// A page token this service did not hand out: `InvalidNextToken` where the operation's model
/// lists it, a validation error where it does not (as AWS answers those operations).
fn token_error(op: &str, e: AwsError) -> AwsError {
    if e.code != "InvalidNextToken" {
        return e;
    }
    let listed = snapstack_protocol::model::named(NAME)
        .and_then(|m| m.operations.get(op))
        .is_some_and(|o| o.errors.iter().any(|r| r.shape == "InvalidNextToken"));
    if listed {
        e
    } else {
        AwsError::validation(e.message)
    }
}

/// Records hold AWS's full description of a resource (and a window task's body what
/// RegisterTask was given); each operation answers with the members of its own output shape.
///
/// The parameter operations (the hot path: GetParameter is most of SSM's traffic) build their
/// outputs member by member from their own shapes, so they skip the walk over the model.
pub(super) fn trim_output(op: &str, v: &mut Value) {
    if op.contains("Parameter") {
        return;
    }
    let Some(model) = snapstack_protocol::model::named(NAME) else {
        return;
    };
    if let Some(shape) = model.operations.get(op).and_then(|o| o.output.as_ref()) {
        trim(model, &shape.shape, v, 0);
    }
}

/// Drop the members of `v` that `shape` (and the shapes inside it) does not have, and nulls.
pub(super) fn trim(
    model: &snapstack_protocol::model::ServiceModel,
    shape: &str,
    v: &mut Value,
    depth: usize,
) {
    let Some(sh) = model.shape(shape) else { return };
    if depth > 32 || sh.document {
        return;
    }
    match (sh.kind.as_str(), v) {
        ("structure", Value::Object(m)) => {
            m.retain(|k, x| !x.is_null() && sh.members.contains_key(k));
            for (k, x) in m.iter_mut() {
                if let Some(mem) = sh.members.get(k) {
                    trim(model, &mem.shape, x, depth + 1);
                }
            }
        }
        ("list", Value::Array(items)) => {
            if let Some(el) = &sh.member {
                for x in items {
                    trim(model, &el.shape, x, depth + 1);
                }
            }
        }
        ("map", Value::Object(m)) => {
            if let Some(val) = &sh.value {
                for x in m.values_mut() {
                    trim(model, &val.shape, x, depth + 1);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_keep_only_their_shapes_members() {
        let m = snapstack_protocol::model::named(NAME).unwrap();
        let mut v = json!({"Associations": [{"AssociationId": "a", "Parameters": {"x": ["y"]}, "Gone": null}],
                           "Extra": 1});
        trim(m, "ListAssociationsResult", &mut v, 0);
        assert_eq!(v, json!({"Associations": [{"AssociationId": "a"}]}));
    }
}
