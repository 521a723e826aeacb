// ARM error bodies, in the shape and wording real ARM / Microsoft.Compute return. The identity IDs
// in messages are quoted exactly as the caller sent them, comma-separated, because clients such as
// aad-pod-identity's MIC parse them back out to drop bad identities and retry.

export interface ArmError {
  status: number;
  code: string;
  message: string;
  target?: string;
}

export const armErrorBody = (e: ArmError) => ({
  error: { code: e.code, message: e.message, ...(e.target ? { target: e.target } : {}) },
});

export function resourceNotFound(kind: string, name: string, resourceGroup: string): ArmError {
  return {
    status: 404,
    code: "ResourceNotFound",
    message: `The Resource 'Microsoft.Compute/${kind}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  };
}

export const missingApiVersion: ArmError = {
  status: 400,
  code: "MissingApiVersionParameter",
  message: "The api-version query parameter (?api-version=) is required for all requests.",
};

export function invalidApiVersion(apiVersion: string): ArmError {
  return {
    status: 400,
    code: "InvalidApiVersionParameter",
    message: `The api-version '${apiVersion}' is invalid. The supported versions are '2026-04-01,2025-04-01,2024-11-01,2024-07-01,2024-03-01,2023-09-01,2023-07-01,2023-03-01,2022-11-01,2022-08-01,2022-03-01,2021-11-01,2021-07-01,2021-03-01,2020-12-01,2020-06-01,2019-12-01,2019-07-01,2019-03-01,2018-10-01,2018-06-01'.`,
  };
}

export const missingAuthorization: ArmError = {
  status: 401,
  code: "AuthenticationFailed",
  message: "Authentication failed. The 'Authorization' header is missing.",
};

export const invalidAuthorization: ArmError = {
  status: 401,
  code: "InvalidAuthenticationToken",
  message: "The access token is invalid.",
};

export function throttled(operationType: string): ArmError {
  return {
    status: 429,
    code: "TooManyRequests",
    message: `The request is being throttled as the limit has been reached for operation type - ${operationType}. For more information, see - https://aka.ms/throttling`,
  };
}

function identityOperationFailed(targetId: string, innerMessage: string): ArmError {
  const inner = JSON.stringify({ error: { code: "BadRequest", message: innerMessage } });
  return {
    status: 400,
    code: "FailedIdentityOperation",
    message: `Identity operation for resource '${targetId}' failed with error 'Failed to perform resource identity operation. Status: 'BadRequest'. Response: '${inner}'.'.`,
  };
}

export function identityNotFound(targetId: string, identityId: string): ArmError {
  return identityOperationFailed(targetId, `Resource '${identityId}' was not found.`);
}

export function tooManyIdentities(targetId: string, count: number, limit: number): ArmError {
  return identityOperationFailed(
    targetId,
    `User Assigned Identities Number '${count}' Assign exceed limit '${limit}' in one request.`,
  );
}

export function linkedAuthorizationFailed(
  caller: { clientId: string; objectId: string },
  kind: string,
  targetId: string,
  identityIds: string[],
): ArmError {
  return {
    status: 403,
    code: "LinkedAuthorizationFailed",
    message: `The client '${caller.clientId}' with object id '${caller.objectId}' has permission to perform action 'Microsoft.Compute/${kind}/write' on scope '${targetId}'; however, it does not have permission to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '${identityIds.join(",")}' or the linked scope(s) are invalid.`,
  };
}

export function markedForDeletion(kind: string, name: string): ArmError {
  const what = kind === "virtualMachines" ? `VM '${name}'` : `VM scale set '${name}'`;
  return {
    status: 409,
    code: "OperationNotAllowed",
    message: `Operation 'Update' is not allowed on ${what} since it is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).`,
  };
}

export function invalidIdentityValues(identityIds: string[]): ArmError {
  return {
    status: 400,
    code: "InvalidIdentityValues",
    message: `Invalid value for the identities '${identityIds.join(",")}'. The 'userAssignedIdentities' property keys should only be empty json objects, null or the resource exisiting property.`,
  };
}

export function invalidParameter(target: string, message: string): ArmError {
  return { status: 400, code: "InvalidParameter", message, target };
}
