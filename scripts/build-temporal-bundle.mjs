#!/usr/bin/env node
// Build step (after tsc): prebuild the Temporal workflow bundle into dist/temporal/ so children never run webpack.
import { buildWorkflowBundle } from '../dist/src/backends/temporal/bundle.js';

const started = Date.now();
const { path, bytes } = await buildWorkflowBundle();
console.error(`temporal workflow bundle: ${path} (${bytes} bytes, ${Date.now() - started} ms)`);
