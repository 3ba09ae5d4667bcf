/** The range parser lives in libs/contracts: auth's console routes parse the same range. */
export { parseStatsRange, STATS_DEFAULT_DAYS } from '@borealis/contracts';
