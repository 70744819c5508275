// Protocol constants without the schemas, so the agent daemon can use them without loading
// the schema library (see agent/config-loader.ts for why that matters).
export const PROTOCOL_VERSION = 1;
export const SIGNATURE_HEADER = 'x-lifeline-signature';
export const AGENT_HEADER = 'x-lifeline-agent';
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const MAX_BATCH = 500;
// Restore facts per catalog job (see catalogJobSchema.restore): the agent trims to these.
export const MAX_RESTORE_FACTS = 16;
export const MAX_RESTORE_FACT_CHARS = 1024;
