// Proves simple/joint membership changes, their validation (tracker untouched on error), codec, and invariants.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import {
  type ChangeResult,
  changeConfig,
  enterJoint,
  entersJoint,
  leaveJoint,
  leavesJoint,
  restoreConfig,
  simpleChange,
} from './confchange.js';
import {
  decodeConfChange,
  describeConfChange,
  encodeConfChange,
  parseConfChanges,
} from './confchange-codec.js';
import { RaftError } from './errors.js';
import { describeConfig, ProgressTracker } from './tracker.js';
import type { ConfChange, ConfChangeSingle, ConfState } from './types.js';

const FILE = 'raft/confchange.test.ts';
const checkProperty = propertyChecker(FILE);
const INVALID = { name: 'RaftError', code: 'CONF_CHANGE_INVALID' };
const LAST_INDEX = 10;

function trackerOf(cs: Partial<ConfState>): ProgressTracker {
  const trk = new ProgressTracker({ maxInflight: 4, maxInflightBytes: 0 });
  const full: ConfState = {
    voters: [],
    votersOutgoing: [],
    learners: [],
    learnersNext: [],
    autoLeave: false,
    ...cs,
  };
  install(trk, restoreConfig(trk, LAST_INDEX, full));
  return trk;
}

function install(trk: ProgressTracker, r: ChangeResult): void {
  trk.config = r.config;
  trk.progress = r.progress;
  trk.checkInvariants();
}

/** The tracker's config plus each progress' learner flag, for exact comparisons. */
function describe(trk: ProgressTracker): string {
  const flags = trk.ids().map((id) => `${id}${trk.progress.get(id)!.isLearner ? 'L' : 'V'}`);
  return `${describeConfig(trk.config)} progress=[${flags.join(' ')}]`;
}

const cc = (spec: string, transition: ConfChange['transition'] = 'auto'): ConfChange => ({
  transition,
  changes: parseConfChanges(spec),
  context: new Uint8Array(),
});

t.test('simple changes add and remove one voter or any learners', async (t) => {
  const trk = trackerOf({ voters: [1] });
  install(trk, simpleChange(trk, LAST_INDEX, parseConfChanges('v2')));
  t.equal(describe(trk), 'voters=(1 2) progress=[1V 2V]');
  const added = trk.progress.get(2)!;
  t.equal(added.next, LAST_INDEX + 1, 'a new member is probed from the end of the log');
  t.equal(added.match, 0);
  t.ok(added.recentActive, 'a new member counts as active for CheckQuorum');
  install(trk, simpleChange(trk, LAST_INDEX, parseConfChanges('l3 l4')));
  t.equal(describe(trk), 'voters=(1 2) learners=(3 4) progress=[1V 2V 3L 4L]');
  install(trk, simpleChange(trk, LAST_INDEX, parseConfChanges('v3')));
  t.equal(describe(trk), 'voters=(1 2 3) learners=(4) progress=[1V 2V 3V 4L]', 'learner promoted');
  install(trk, simpleChange(trk, LAST_INDEX, parseConfChanges('l2')));
  t.equal(describe(trk), 'voters=(1 3) learners=(2 4) progress=[1V 2L 3V 4L]', 'voter demoted');
  install(trk, simpleChange(trk, LAST_INDEX, parseConfChanges('r2 r4 r9')));
  t.equal(describe(trk), 'voters=(1 3) progress=[1V 3V]', 'removing an unknown id is a no-op');
  install(trk, simpleChange(trk, LAST_INDEX, parseConfChanges('l3 l3')));
  t.equal(describe(trk), 'voters=(1) learners=(3) progress=[1V 3L]', 'repeating a change is idempotent');
});

t.test('a promoted learner keeps its progress (match is not reset)', async (t) => {
  const trk = trackerOf({ voters: [1], learners: [2] });
  trk.progress.get(2)!.match = 7;
  install(trk, simpleChange(trk, LAST_INDEX, parseConfChanges('v2')));
  t.equal(trk.progress.get(2)!.match, 7);
  t.notOk(trk.progress.get(2)!.isLearner);
});

t.test(
  'simple changes refuse moving two voters, removing all voters, bad ids and joint configs',
  async (t) => {
    const trk = trackerOf({ voters: [1, 2, 3] });
    t.throws(() => simpleChange(trk, LAST_INDEX, parseConfChanges('v4 v5')), INVALID);
    t.throws(
      () => simpleChange(trk, LAST_INDEX, parseConfChanges('r1 v4')),
      INVALID,
      'a swap is two voter changes',
    );
    t.throws(() => simpleChange(trk, LAST_INDEX, parseConfChanges('l1 l2')), INVALID, 'two demotions');
    t.throws(() => simpleChange(trackerOf({ voters: [1] }), LAST_INDEX, parseConfChanges('r1')), INVALID);
    t.throws(() => simpleChange(trk, LAST_INDEX, [{ type: 'addNode', nodeId: 0 }]), INVALID);
    t.throws(() => simpleChange(trk, LAST_INDEX, [{ type: 'addNode', nodeId: 1.5 }]), INVALID);
    const joint = trackerOf({ voters: [1, 2], votersOutgoing: [1] });
    t.throws(() => simpleChange(joint, LAST_INDEX, parseConfChanges('v3')), INVALID);
  },
);

t.test('a failed change leaves the tracker, including progress flags, untouched', async (t) => {
  const trk = trackerOf({ voters: [1, 2, 3], learners: [4] });
  const before = describe(trk);
  const progressBefore = new Map(trk.progress);
  t.throws(() => simpleChange(trk, LAST_INDEX, parseConfChanges('v4 l2 v5')), INVALID);
  t.equal(describe(trk), before);
  for (const [id, pr] of progressBefore)
    t.equal(trk.progress.get(id), pr, `progress ${id} is the same object`);
  t.ok(trk.progress.get(4)!.isLearner, 'the would-be promotion did not leak');
  t.notOk(trk.progress.get(2)!.isLearner, 'the would-be demotion did not leak');
});

t.test(
  'enterJoint copies the voters to the outgoing half, then applies the changes to the incoming',
  async (t) => {
    const trk = trackerOf({ voters: [1, 2, 3] });
    install(trk, enterJoint(trk, LAST_INDEX, true, parseConfChanges('v4 r1 l5')));
    t.equal(describe(trk), 'voters=(2 3 4)&&(1 2 3) learners=(5) autoleave progress=[1V 2V 3V 4V 5L]');
    t.same(trk.confState(), {
      voters: [2, 3, 4],
      votersOutgoing: [1, 2, 3],
      learners: [5],
      learnersNext: [],
      autoLeave: true,
    });
    t.throws(() => enterJoint(trk, LAST_INDEX, false, parseConfChanges('v6')), INVALID, 'already joint');
    t.throws(
      () => enterJoint(trackerOf({}), LAST_INDEX, false, parseConfChanges('v1')),
      INVALID,
      'zero voters',
    );
  },
);

t.test('leaveJoint drops outgoing-only voters and turns learners_next into learners', async (t) => {
  const trk = trackerOf({ voters: [1, 2, 3] });
  install(trk, enterJoint(trk, LAST_INDEX, false, parseConfChanges('r1 l3 v4')));
  t.equal(
    describe(trk),
    'voters=(2 4)&&(1 2 3) learners_next=(3) progress=[1V 2V 3V 4V]',
    'demoted voter still votes',
  );
  install(trk, leaveJoint(trk, LAST_INDEX));
  t.equal(describe(trk), 'voters=(2 4) learners=(3) progress=[2V 3L 4V]');
  t.throws(() => leaveJoint(trk, LAST_INDEX), INVALID, 'not joint');
});

t.test('re-adding a demoted voter in the same joint config clears learners_next', async (t) => {
  const trk = trackerOf({ voters: [1, 2, 3] });
  install(trk, enterJoint(trk, LAST_INDEX, false, parseConfChanges('l3 v3')));
  t.equal(describe(trk), 'voters=(1 2 3)&&(1 2 3) progress=[1V 2V 3V]');
  install(trk, leaveJoint(trk, LAST_INDEX));
  t.equal(describe(trk), 'voters=(1 2 3) progress=[1V 2V 3V]');
});

t.test(
  'changeConfig: one change is simple, several (or joint transitions) are joint, none leaves',
  async (t) => {
    t.same(entersJoint(cc('v2')), { joint: false, autoLeave: false });
    t.same(entersJoint(cc('v2 v3')), { joint: true, autoLeave: true });
    t.same(entersJoint(cc('v2', 'jointImplicit')), { joint: true, autoLeave: true });
    t.same(entersJoint(cc('v2', 'jointExplicit')), { joint: true, autoLeave: false });
    t.ok(leavesJoint(cc('')));
    t.notOk(leavesJoint(cc('v2')));

    const trk = trackerOf({ voters: [1] });
    install(trk, changeConfig(trk, LAST_INDEX, cc('v2')));
    t.equal(describeConfig(trk.config), 'voters=(1 2)');
    install(trk, changeConfig(trk, LAST_INDEX, cc('v3 v4')));
    t.equal(describeConfig(trk.config), 'voters=(1 2 3 4)&&(1 2) autoleave');
    install(trk, changeConfig(trk, LAST_INDEX, cc('')));
    t.equal(describeConfig(trk.config), 'voters=(1 2 3 4)');
    install(trk, changeConfig(trk, LAST_INDEX, cc('r4', 'jointExplicit')));
    t.equal(describeConfig(trk.config), 'voters=(1 2 3)&&(1 2 3 4)');
  },
);

t.test(
  'restoreConfig rebuilds a joint config with learners and learners_next from a ConfState',
  async (t) => {
    const trk = trackerOf({
      voters: [1, 2],
      votersOutgoing: [1, 2, 3],
      learners: [4],
      learnersNext: [3],
      autoLeave: true,
    });
    t.equal(
      describe(trk),
      'voters=(1 2)&&(1 2 3) learners=(4) learners_next=(3) autoleave progress=[1V 2V 3V 4L]',
    );
    t.equal(trk.progress.get(1)!.next, LAST_INDEX + 1);
  },
);

t.test('the conf change codec round-trips and rejects malformed data', async (t) => {
  const orig: ConfChange = {
    transition: 'jointExplicit',
    changes: parseConfChanges('v2 l3 r1'),
    context: new Uint8Array([1, 2, 3]),
  };
  const back = decodeConfChange(encodeConfChange(orig));
  t.same(back.transition, orig.transition);
  t.same(back.changes, orig.changes);
  t.same([...back.context], [1, 2, 3]);
  t.equal(describeConfChange(orig), 'v2 l3 r1 (jointExplicit)');
  t.equal(describeConfChange(cc('v5')), 'v5');
  const enc = new TextEncoder();
  for (const bad of [
    'not json',
    '{}',
    '{"t":"nope","c":[],"x":[]}',
    '{"t":"auto","c":[["addNode","2"]],"x":[]}',
    '{"t":"auto","c":[["grow",2]],"x":[]}',
    '{"t":"auto","c":[],"x":3}',
  ]) {
    t.throws(() => decodeConfChange(enc.encode(bad)), INVALID, bad);
  }
  t.throws(() => parseConfChanges('x2'), INVALID);
  t.throws(() => parseConfChanges('v0'), INVALID);
  t.same(parseConfChanges('  v1   r2 '), [
    { type: 'addNode', nodeId: 1 },
    { type: 'removeNode', nodeId: 2 },
  ]);
});

// ---- property: random change sequences keep the tracker's invariants ----

const changeArb: fc.Arbitrary<ConfChangeSingle> = fc.record({
  type: fc.constantFrom('addNode' as const, 'removeNode' as const, 'addLearner' as const),
  nodeId: fc.integer({ min: 1, max: 6 }),
});
const ccArb: fc.Arbitrary<ConfChange> = fc.record({
  transition: fc.constantFrom('auto' as const, 'jointImplicit' as const, 'jointExplicit' as const),
  changes: fc.array(changeArb, { maxLength: 4 }),
  context: fc.constant(new Uint8Array()),
});

function checkTracker(trk: ProgressTracker): void {
  trk.checkInvariants();
  const c = trk.config;
  const inConfig = new Set([...c.voters[0], ...c.voters[1], ...c.learners, ...c.learnersNext]);
  const tracked = new Set(trk.progress.keys());
  if ([...tracked].some((id) => !inConfig.has(id)) || tracked.size !== inConfig.size)
    throw new Error(`progress ${[...tracked]} != members ${[...inConfig]}`);
  if (c.voters[0].size === 0) throw new Error('no voters');
  for (const id of c.learnersNext) {
    if (c.voters[0].has(id)) throw new Error(`learner_next ${id} is an incoming voter`);
  }
  for (const [id, pr] of trk.progress) {
    if (pr.isLearner !== c.learners.has(id)) throw new Error(`progress ${id} learner flag is wrong`);
  }
}

t.test(
  'property: random conf change sequences keep tracker invariants; refused ones change nothing',
  async (t) => {
    checkProperty(
      t,
      fc.property(fc.array(ccArb, { maxLength: 25 }), (changes) => {
        const trk = trackerOf({ voters: [1, 2, 3] });
        for (const change of changes) {
          const before = describe(trk);
          let r: ChangeResult;
          try {
            r = changeConfig(trk, LAST_INDEX, change);
          } catch (err) {
            if (!(err instanceof RaftError) || err.code !== 'CONF_CHANGE_INVALID') throw err;
            if (describe(trk) !== before)
              throw new Error(`refused change mutated the tracker: ${before} -> ${describe(trk)}`);
            continue;
          }
          const wasJoint = trk.config.voters[1].size > 0;
          install(trk, r);
          checkTracker(trk);
          const nowJoint = trk.config.voters[1].size > 0;
          if (leavesJoint(change) && nowJoint) throw new Error('still joint after leaving');
          if (!leavesJoint(change) && entersJoint(change).joint && !wasJoint && !nowJoint)
            throw new Error('joint change did not enter a joint config');
        }
      }),
      1000,
    );
  },
);
