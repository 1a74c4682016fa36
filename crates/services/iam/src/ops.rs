//! Which function answers which operation.

use serde_json::Value;
use snapstack_protocol::errors::AwsError;

use crate::policies::Holder;
use crate::tagging::Taggable;
use crate::{
    Op, account, creds, delegation, entities, extras, lastaccess, not_implemented, policies,
    providers, simulate, tagging,
};

type Handler = fn(&mut Op<'_, '_>) -> Result<Value, AwsError>;

/// The operations with a fixed handler (tagging and the per-holder policy operations are
/// matched by name in [`run`]).
const HANDLERS: &[(&str, Handler)] = &[
    ("CreateUser", entities::create_user),
    ("GetUser", entities::get_user),
    ("ListUsers", entities::list_users),
    ("UpdateUser", entities::update_user),
    ("DeleteUser", entities::delete_user),
    ("PutUserPermissionsBoundary", entities::put_user_boundary),
    (
        "DeleteUserPermissionsBoundary",
        entities::delete_user_boundary,
    ),
    ("CreateGroup", entities::create_group),
    ("GetGroup", entities::get_group),
    ("ListGroups", entities::list_groups),
    ("ListGroupsForUser", entities::list_groups_for_user),
    ("UpdateGroup", entities::update_group),
    ("DeleteGroup", entities::delete_group),
    ("AddUserToGroup", entities::add_user_to_group),
    ("RemoveUserFromGroup", entities::remove_user_from_group),
    ("CreateRole", entities::create_role),
    ("GetRole", entities::get_role),
    ("ListRoles", entities::list_roles),
    ("UpdateRole", entities::update_role),
    ("UpdateRoleDescription", entities::update_role_description),
    (
        "UpdateAssumeRolePolicy",
        entities::update_assume_role_policy,
    ),
    ("DeleteRole", entities::delete_role),
    ("PutRolePermissionsBoundary", entities::put_role_boundary),
    (
        "DeleteRolePermissionsBoundary",
        entities::delete_role_boundary,
    ),
    (
        "CreateServiceLinkedRole",
        entities::create_service_linked_role,
    ),
    (
        "DeleteServiceLinkedRole",
        entities::delete_service_linked_role,
    ),
    (
        "GetServiceLinkedRoleDeletionStatus",
        entities::service_linked_role_deletion_status,
    ),
    ("SimulateCustomPolicy", simulate::simulate_custom),
    ("SimulatePrincipalPolicy", simulate::simulate_principal),
    ("CreatePolicy", policies::create_policy),
    ("GetPolicy", policies::get_policy),
    ("DeletePolicy", policies::delete_policy),
    ("ListPolicies", policies::list_policies),
    ("CreatePolicyVersion", policies::create_policy_version),
    ("GetPolicyVersion", policies::get_policy_version),
    ("ListPolicyVersions", policies::list_policy_versions),
    ("DeletePolicyVersion", policies::delete_policy_version),
    (
        "SetDefaultPolicyVersion",
        policies::set_default_policy_version,
    ),
    ("ListEntitiesForPolicy", policies::list_entities_for_policy),
    ("CreateInstanceProfile", account::create_instance_profile),
    ("GetInstanceProfile", account::get_instance_profile),
    ("ListInstanceProfiles", account::list_instance_profiles),
    (
        "ListInstanceProfilesForRole",
        account::list_instance_profiles_for_role,
    ),
    (
        "AddRoleToInstanceProfile",
        account::add_role_to_instance_profile,
    ),
    (
        "RemoveRoleFromInstanceProfile",
        account::remove_role_from_instance_profile,
    ),
    ("DeleteInstanceProfile", account::delete_instance_profile),
    ("CreateAccountAlias", account::create_account_alias),
    ("DeleteAccountAlias", account::delete_account_alias),
    ("ListAccountAliases", account::list_account_aliases),
    (
        "UpdateAccountPasswordPolicy",
        account::update_password_policy,
    ),
    ("GetAccountPasswordPolicy", account::get_password_policy),
    (
        "DeleteAccountPasswordPolicy",
        account::delete_password_policy,
    ),
    (
        "SetSecurityTokenServicePreferences",
        account::set_sts_preferences,
    ),
    ("GetAccountSummary", account::account_summary),
    (
        "GenerateCredentialReport",
        account::generate_credential_report,
    ),
    ("GetCredentialReport", account::get_credential_report),
    (
        "GetAccountAuthorizationDetails",
        account::authorization_details,
    ),
    ("CreateAccessKey", creds::create_access_key),
    ("ListAccessKeys", creds::list_access_keys),
    ("UpdateAccessKey", creds::update_access_key),
    ("DeleteAccessKey", creds::delete_access_key),
    ("GetAccessKeyLastUsed", creds::access_key_last_used),
    ("CreateLoginProfile", creds::create_login_profile),
    ("GetLoginProfile", creds::get_login_profile),
    ("UpdateLoginProfile", creds::update_login_profile),
    ("DeleteLoginProfile", creds::delete_login_profile),
    ("ChangePassword", creds::change_password),
    ("CreateVirtualMFADevice", creds::create_virtual_mfa),
    ("EnableMFADevice", creds::enable_mfa),
    ("DeactivateMFADevice", creds::deactivate_mfa),
    ("ResyncMFADevice", creds::resync_mfa),
    ("DeleteVirtualMFADevice", creds::delete_virtual_mfa),
    ("GetMFADevice", creds::get_mfa),
    ("ListMFADevices", creds::list_mfa),
    ("ListVirtualMFADevices", creds::list_virtual_mfa),
    ("UploadSSHPublicKey", creds::upload_ssh_key),
    ("GetSSHPublicKey", creds::get_ssh_key),
    ("ListSSHPublicKeys", creds::list_ssh_keys),
    ("UpdateSSHPublicKey", creds::update_ssh_key),
    ("DeleteSSHPublicKey", creds::delete_ssh_key),
    ("UploadSigningCertificate", creds::upload_signing_cert),
    ("ListSigningCertificates", creds::list_signing_certs),
    ("UpdateSigningCertificate", creds::update_signing_cert),
    ("DeleteSigningCertificate", creds::delete_signing_cert),
    (
        "CreateServiceSpecificCredential",
        creds::create_service_cred,
    ),
    ("ListServiceSpecificCredentials", creds::list_service_creds),
    ("ResetServiceSpecificCredential", creds::reset_service_cred),
    (
        "UpdateServiceSpecificCredential",
        creds::update_service_cred,
    ),
    (
        "DeleteServiceSpecificCredential",
        creds::delete_service_cred,
    ),
    ("CreateOpenIDConnectProvider", providers::create_oidc),
    ("GetOpenIDConnectProvider", providers::get_oidc),
    ("ListOpenIDConnectProviders", providers::list_oidc),
    (
        "AddClientIDToOpenIDConnectProvider",
        providers::add_client_id,
    ),
    (
        "RemoveClientIDFromOpenIDConnectProvider",
        providers::remove_client_id,
    ),
    (
        "UpdateOpenIDConnectProviderThumbprint",
        providers::update_thumbprints,
    ),
    ("DeleteOpenIDConnectProvider", providers::delete_oidc),
    ("CreateSAMLProvider", providers::create_saml),
    ("GetSAMLProvider", providers::get_saml),
    ("ListSAMLProviders", providers::list_saml),
    ("UpdateSAMLProvider", providers::update_saml),
    ("DeleteSAMLProvider", providers::delete_saml),
    ("UploadServerCertificate", providers::upload_server_cert),
    ("GetServerCertificate", providers::get_server_cert),
    ("ListServerCertificates", providers::list_server_certs),
    ("UpdateServerCertificate", providers::update_server_cert),
    ("DeleteServerCertificate", providers::delete_server_cert),
    ("GetContextKeysForCustomPolicy", extras::context_keys_custom),
    (
        "GetContextKeysForPrincipalPolicy",
        extras::context_keys_principal,
    ),
    (
        "ListPoliciesGrantingServiceAccess",
        extras::policies_granting_service_access,
    ),
    (
        "EnableOutboundWebIdentityFederation",
        extras::enable_outbound_federation,
    ),
    (
        "DisableOutboundWebIdentityFederation",
        extras::disable_outbound_federation,
    ),
    (
        "GetOutboundWebIdentityFederationInfo",
        extras::outbound_federation_info,
    ),
    (
        "GenerateServiceLastAccessedDetails",
        lastaccess::generate_service_last_accessed,
    ),
    (
        "GetServiceLastAccessedDetails",
        lastaccess::get_service_last_accessed,
    ),
    (
        "GetServiceLastAccessedDetailsWithEntities",
        lastaccess::get_service_last_accessed_with_entities,
    ),
    (
        "GenerateOrganizationsAccessReport",
        lastaccess::generate_organizations_access_report,
    ),
    (
        "GetOrganizationsAccessReport",
        lastaccess::get_organizations_access_report,
    ),
    ("CreateDelegationRequest", delegation::create),
    ("GetDelegationRequest", delegation::get),
    ("ListDelegationRequests", delegation::list),
    ("AssociateDelegationRequest", delegation::associate),
    ("UpdateDelegationRequest", delegation::update),
    ("AcceptDelegationRequest", delegation::accept),
    ("RejectDelegationRequest", delegation::reject),
    ("SendDelegationToken", delegation::send_token),
    (
        "GetHumanReadableSummary",
        delegation::human_readable_summary,
    ),
    ("ListOrganizationsFeatures", extras::no_organization),
    ("EnableOrganizationsRootSessions", extras::no_organization),
    ("DisableOrganizationsRootSessions", extras::no_organization),
    (
        "EnableOrganizationsRootCredentialsManagement",
        extras::no_organization,
    ),
    (
        "DisableOrganizationsRootCredentialsManagement",
        extras::no_organization,
    ),
];

/// A per-holder policy operation: `Put|Get|Delete|List` + `User|Group|Role` + `Policy`/
/// `Policies`, `Attach|Detach` + holder + `Policy`, `ListAttached` + holder + `Policies`.
fn holder_op(operation: &str) -> Option<(&'static str, Holder)> {
    let (verb, rest) = [
        "ListAttached",
        "Put",
        "Get",
        "Delete",
        "List",
        "Attach",
        "Detach",
    ]
    .iter()
    .find_map(|v| operation.strip_prefix(v).map(|r| (*v, r)))?;
    let (holder, tail) = [
        ("User", Holder::User),
        ("Group", Holder::Group),
        ("Role", Holder::Role),
    ]
    .iter()
    .find_map(|(n, h)| rest.strip_prefix(n).map(|t| (*h, t)))?;
    let ok = match verb {
        "ListAttached" | "List" => tail == "Policies",
        _ => tail == "Policy",
    };
    ok.then_some((verb, holder))
}

pub fn implemented(operation: &str) -> bool {
    HANDLERS.iter().any(|(n, _)| *n == operation)
        || holder_op(operation).is_some()
        || Taggable::of_operation(operation).is_some()
}

pub fn run(op: &mut Op<'_, '_>, operation: &str) -> Result<Value, AwsError> {
    if let Some((_, h)) = HANDLERS.iter().find(|(n, _)| *n == operation) {
        return h(op);
    }
    if let Some((verb, holder)) = holder_op(operation) {
        return match verb {
            "Put" => policies::put_inline(op, holder),
            "Get" => policies::get_inline(op, holder),
            "Delete" => policies::delete_inline(op, holder),
            "List" => policies::list_inline(op, holder),
            "Attach" => policies::attach(op, holder),
            "Detach" => policies::detach(op, holder),
            _ => policies::list_attached(op, holder),
        };
    }
    if let Some((kind, verb)) = Taggable::of_operation(operation) {
        return tagging::run(op, kind, verb);
    }
    Err(not_implemented(operation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_names_an_operation_of_the_model() {
        let model = crate::Iam::model();
        for (name, _) in HANDLERS {
            assert!(model.operations.contains_key(*name), "{name}");
        }
        let served = model.operations.keys().filter(|o| implemented(o)).count();
        assert!(served > 140, "{served}");
        assert_eq!(
            holder_op("ListAttachedRolePolicies").map(|x| x.0),
            Some("ListAttached")
        );
        assert_eq!(holder_op("PutUserPermissionsBoundary"), None);
        assert_eq!(holder_op("GetUser"), None);
        assert!(implemented("SimulateCustomPolicy"));
        assert!(implemented("GetHumanReadableSummary"));
        // Every operation of the model is served.
        assert_eq!(served, model.operations.len());
    }
}
