import { graphql } from './gql/index.js';

// Every operation the console sends, typed by the code generator from apps/gateway/schema.graphql.

export const SourceTopologiesQuery = graphql(`
  query SourceTopologies {
    sourceTopologies {
      topology
      plugin
      optionsField
      takesNodes
      options {
        name
        type
        description
        required
        enum
        default
        secret
        path
        placeholder
      }
    }
  }
`);

export const TasksQuery = graphql(`
  query Tasks($filter: TaskFilter, $page: PageInput) {
    tasks(filter: $filter, page: $page) {
      total
      items {
        id
        name
        tags
        status
        createdAt
        allowedActions
        lagBytes
        progress {
          phase
          percent
          lagSeconds
        }
        shards {
          shardId
          phase
          keys
          lagBytes
        }
      }
    }
  }
`);

export const TaskQuery = graphql(`
  query Task($id: ID!, $from: DateTimeISO) {
    task(id: $id) {
      id
      name
      tags
      status
      error
      runningMode
      scheduledAt
      createdAt
      warningsAcknowledged
      allowedActions
      lagBytes
      source {
        topology
        detail
        nodes {
          host
          port
          hasPassword
        }
      }
      target {
        cluster
        proxy
        endpoint {
          host
          port
          hasPassword
        }
      }
      options {
        renamePrefix
        writeMode
        conflict
        rateLimit {
          keysPerSec
          bytesPerSec
        }
        dbMap {
          source
          db
          prefix
        }
        filter {
          include {
            prefix
            glob
            regex
          }
          exclude {
            prefix
            glob
            regex
          }
        }
      }
      checkReport {
        status
        durationMs
        at
        results {
          checkId
          status
          message
          advice
          shardId
        }
      }
      shards {
        shardId
        phase
        replid
        appliedOffset
        keys
        commands
        lagBytes
      }
      metrics(from: $from, step: 2) {
        at
        state
        keys
        commands
        lagBytes
        lagSeconds
      }
      events(page: { limit: 200 }, newestFirst: true) {
        total
        items {
          id
          at
          kind
          message
        }
      }
    }
  }
`);

export const VerificationsQuery = graphql(`
  query Verifications($id: ID!) {
    task(id: $id) {
      id
      name
      status
      allowedActions
      verifications {
        id
        mode
        status
        rounds
        keysChecked
        differences
        counts
        perRound
        details
        error
        startedAt
        finishedAt
      }
    }
  }
`);

export const ProgressSubscription = graphql(`
  subscription Progress($id: ID!) {
    taskProgress(taskId: $id) {
      taskId
      state
      phase
      percent
      keysLoaded
      keysTotal
      etaSeconds
      keysPerSec
      commandsPerSec
      lagBytes
      lagSeconds
      at
    }
  }
`);

export const EventsSubscription = graphql(`
  subscription Events($id: ID!) {
    taskEvents(taskId: $id) {
      id
      at
      kind
      message
    }
  }
`);

export const CreateTaskMutation = graphql(`
  mutation CreateTask($input: CreateTaskInput!) {
    createTask(input: $input) {
      id
      status
    }
  }
`);

export const TestConnectivityMutation = graphql(`
  mutation TestConnectivity($endpoint: EndpointInput!) {
    testConnectivity(endpoint: $endpoint) {
      ok
      message
      rttMs
      version
    }
  }
`);

export const RunPrecheckMutation = graphql(`
  mutation RunPrecheck($id: ID!) {
    runPrecheck(taskId: $id) {
      status
    }
  }
`);

export const AcknowledgeMutation = graphql(`
  mutation Acknowledge($id: ID!) {
    acknowledgeWarnings(taskId: $id) {
      id
      status
      warningsAcknowledged
      allowedActions
    }
  }
`);

export const StartMutation = graphql(`
  mutation Start($id: ID!) {
    startTask(taskId: $id) {
      id
      status
      allowedActions
    }
  }
`);

export const ScheduleMutation = graphql(`
  mutation Schedule($id: ID!, $at: DateTimeISO!) {
    scheduleTask(taskId: $id, at: $at) {
      id
      status
      allowedActions
    }
  }
`);

export const PauseMutation = graphql(`
  mutation Pause($id: ID!) {
    pauseTask(taskId: $id) {
      id
      status
      allowedActions
    }
  }
`);

export const ResumeMutation = graphql(`
  mutation Resume($id: ID!) {
    resumeTask(taskId: $id) {
      id
      status
      allowedActions
    }
  }
`);

export const StopMutation = graphql(`
  mutation Stop($id: ID!) {
    stopTask(taskId: $id) {
      id
      status
      allowedActions
    }
  }
`);

export const RetryMutation = graphql(`
  mutation Retry($id: ID!) {
    retryTask(taskId: $id) {
      id
      status
      allowedActions
    }
  }
`);

export const CompleteMutation = graphql(`
  mutation Complete($id: ID!, $force: Boolean) {
    completeTask(taskId: $id, force: $force) {
      id
      status
      allowedActions
    }
  }
`);

export const CloneMutation = graphql(`
  mutation Clone($id: ID!) {
    cloneTask(taskId: $id) {
      id
    }
  }
`);

export const DeleteMutation = graphql(`
  mutation Delete($id: ID!) {
    deleteTask(taskId: $id)
  }
`);

export const RateLimitMutation = graphql(`
  mutation RateLimit($id: ID!, $keysPerSec: Float, $bytesPerSec: Float) {
    setRateLimit(taskId: $id, keysPerSec: $keysPerSec, bytesPerSec: $bytesPerSec) {
      id
      options {
        rateLimit {
          keysPerSec
          bytesPerSec
        }
      }
    }
  }
`);

export const VerifyMutation = graphql(`
  mutation Verify($id: ID!, $mode: String, $rounds: Int) {
    verifyTask(taskId: $id, mode: $mode, rounds: $rounds) {
      id
      status
    }
  }
`);

export const AlarmsQuery = graphql(`
  query Alarms {
    alarmRules {
      id
      taskId
      kind
      threshold
      forSeconds
      webhookHost
      createdAt
    }
    alarmDeliveries {
      id
      ruleId
      taskId
      state
      attempts
      delivered
      lastError
      at
    }
    tasks(page: { limit: 500 }) {
      items {
        id
        name
      }
    }
  }
`);

export const CreateAlarmMutation = graphql(`
  mutation CreateAlarm($input: AlarmRuleInput!) {
    createAlarmRule(input: $input) {
      id
    }
  }
`);

export const DeleteAlarmMutation = graphql(`
  mutation DeleteAlarm($id: ID!) {
    deleteAlarmRule(id: $id)
  }
`);

export const UpdateTaskMutation = graphql(`
  mutation UpdateTask($id: ID!, $input: UpdateTaskInput!) {
    updateTask(id: $id, input: $input) {
      id
      status
      allowedActions
    }
  }
`);
