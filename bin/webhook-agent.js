#!/usr/bin/env node
// Runs the compiled CLI; `npm run build` (run by `npm start` and `npm test`) produces dist/.
require('../dist/cli.js');
