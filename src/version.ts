// eslint-disable-next-line @typescript-eslint/no-require-imports
const { version } = require('../package.json') as { version: string };

export const VERSION = version;
export const USER_AGENT = `webhook-agent/${version}`;
