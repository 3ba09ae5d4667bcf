/**
 * The console's send token (docs/security.md, "Console send tokens"), minted by auth for one test
 * send and accepted by the gateway on the single-message send route only: a JWT signed by auth's
 * current signing key whose header `typ` is `CONSOLE_SEND_TOKEN_TYPE`, with scope
 * `CONSOLE_SEND_SCOPE` (never granted to a service account), `sub` = `console:<account id>` or
 * `console:operator`, one `project_id`, a `jti`, and `exp` − `iat` at most
 * `CONSOLE_SEND_TOKEN_TTL_SECONDS`.
 */
export const CONSOLE_SEND_TOKEN_TYPE = 'console-send+jwt';
export const CONSOLE_SEND_SCOPE = 'console:send';
export const CONSOLE_SEND_TOKEN_TTL_SECONDS = 60;
