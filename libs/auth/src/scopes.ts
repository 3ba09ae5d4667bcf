/** The scopes a new service account gets, and all the scopes auth knows (Aurora's). */
export const SERVICE_ACCOUNT_SCOPES: readonly string[] = ['openid', 'offline', 'message:update', 'project:read'];
