import { runEvaluatorWorker } from './worker';

// Entry point of dist/lifeline-collector-worker.js (and of the worker under tsx).
runEvaluatorWorker();
