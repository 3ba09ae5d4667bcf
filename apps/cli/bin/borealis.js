#!/usr/bin/env node
'use strict';
// The compiled CLI lives in dist/ (built by `npm ci` through the `prepare` script, and by `npm start`).
const path = require('node:path');
const main = path.join(__dirname, '..', '..', '..', 'dist', 'apps', 'cli', 'src', 'main.js');
try {
  require.resolve(main);
} catch {
  console.error('borealis: the project is not built yet; run `npm run build` (or `npm ci`) in the repository first.');
  process.exit(1);
}
require(main);
