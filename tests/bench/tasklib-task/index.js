// The usual shape of an Azure Pipelines task: import task-lib, read one input, set the result.
// Used only as the peer in the start-up benchmark.
'use strict';
const tl = require('azure-pipelines-task-lib/task');
const action = tl.getInput('action', true);
tl.setResult(tl.TaskResult.Succeeded, `action ${action}`);
