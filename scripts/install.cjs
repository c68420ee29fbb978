// npm "install" hook: load a prebuilt binary when one matches, else build from source with
// node-gyp (through node-gyp-build), compiling on every core.
'use strict';
process.env.JOBS = process.env.JOBS || 'max';
require('node-gyp-build/bin.js');
