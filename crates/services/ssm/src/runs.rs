//! What only runs on real machines, answered from what is stored: no agent connects here, so
//! no instance has reported a patch scan (patch states and patches are empty lists), windows do
//! not execute (no window executions, tasks or invocations exist), and every target's connection status is `notconnected`. There is
//! no patch catalog, so a baseline's effective patches are an empty list.

use super::objects::*;
use super::*;

fn execution_missing(id: &str) -> AwsError {
    AwsError::new(
        "DoesNotExistException",
        format!("Maintenance window execution {id} does not exist"),
    )
}

impl Ssm {
    pub(super) fn describe_instance_patch_states(
        &self,
        _ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        max_results(input, 100, 50)?;
        ok(listing("InstancePatchStates", Vec::new(), None), None)
    }

    pub(super) fn describe_instance_patch_states_for_patch_group(
        &self,
        _ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        req(input, "PatchGroup")?;
        max_results(input, 100, 50)?;
        ok(listing("InstancePatchStates", Vec::new(), None), None)
    }

    pub(super) fn describe_instance_patches(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "InstanceId")?;
        max_results(input, 100, 50)?;
        if self.obj_get(ctx, instances::INSTANCE, id).is_none() {
            return Err(AwsError::new(
                "InvalidInstanceId",
                format!("Instance Id {id} is not a managed instance registered with this account."),
            ));
        }
        ok(listing("Patches", Vec::new(), None), None)
    }

    pub(super) fn describe_effective_patches_for_patch_baseline(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "BaselineId")?;
        max_results(input, 100, 100)?;
        // GetPatchBaseline's checks: a well-formed id of an existing baseline.
        self.get_patch_baseline(ctx, &json!({"BaselineId": id}))?;
        ok(listing("EffectivePatches", Vec::new(), None), None)
    }

    pub(super) fn describe_maintenance_window_executions(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "WindowId")?;
        max_results(input, 100, 100)?;
        // AWS answers an empty list for a window it does not know too (the operation has no
        // not-found error).
        let _ = (ctx, id);
        ok(listing("WindowExecutions", Vec::new(), None), None)
    }

    pub(super) fn get_maintenance_window_execution(
        &self,
        _ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        Err(execution_missing(req(input, "WindowExecutionId")?))
    }

    pub(super) fn window_execution_children(
        &self,
        _ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        Err(execution_missing(req(input, "WindowExecutionId")?))
    }

    pub(super) fn get_connection_status(
        &self,
        _ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let target = req(input, "Target")?;
        ok(json!({"Target": target, "Status": "notconnected"}), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_has_run_here() {
        let s = Ssm::new();
        let ctx = RequestContext::from_scope(None);
        let call = |op: &str, v: Value| s.handle(&ctx, op, v.to_string().as_bytes());
        let out = call(
            "GetConnectionStatus",
            json!({"Target": "i-0123456789abcdef0"}),
        )
        .unwrap();
        assert_eq!(out.value["Status"], "notconnected");
        let e = call(
            "GetMaintenanceWindowExecution",
            json!({"WindowExecutionId": "x"}),
        )
        .unwrap_err();
        assert_eq!(e.code, "DoesNotExistException");
        let e = call(
            "DescribeInstancePatches",
            json!({"InstanceId": "i-0123456789abcdef0"}),
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidInstanceId");
        let e = call(
            "DescribeEffectivePatchesForPatchBaseline",
            json!({"BaselineId": "pb-0123456789abcdef0"}),
        )
        .unwrap_err();
        assert_eq!(e.code, "DoesNotExistException");
        let out = call(
            "DescribeEffectivePatchesForPatchBaseline",
            json!({"BaselineId": "pb-0c10e657807c7a700"}),
        )
        .unwrap();
        assert_eq!(out.value, json!({"EffectivePatches": []}));
    }
}
