export { FIXTURE_DIR, type RdbFixture as Fixture, rdbFixtures as fixtures } from '@ferry/testkit';
