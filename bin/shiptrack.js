#!/usr/bin/env node
require('../dist/src/cli/launch.cjs').launch();
