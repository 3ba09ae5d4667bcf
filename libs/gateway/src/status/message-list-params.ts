/** The listing's query parser lives in libs/contracts: auth's console routes parse the same query. */
export { parseMessageListParams } from '@borealis/contracts';
