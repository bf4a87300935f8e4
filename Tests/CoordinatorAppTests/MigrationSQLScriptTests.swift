import Testing

@testable import CoordinatorApp

/// Splitting migration files into statements (SQLScript), without a database.
@Suite struct MigrationSQLScriptTests {
    func texts(_ script: String) throws -> [String] {
        try SQLScript.statements(in: script).map(\.text)
    }

    @Test func splitsAtTopLevelSemicolons() throws {
        #expect(
            try texts("CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n") == [
                "CREATE TABLE a (id int)", "CREATE TABLE b (id int)",
            ])
        #expect(try texts("SELECT 1") == ["SELECT 1"])
        #expect(try texts(" ;;\n -- only a comment\n/* and another */\n").isEmpty)
    }

    @Test func semicolonsInQuotesAndCommentsDoNotSplit() throws {
        let script = """
            INSERT INTO t VALUES ('a;b', 'it''s; fine', E'back\\';slash');
            SELECT "odd;name" FROM t; -- trailing; comment
            /* block; /* nested; */ still; */ SELECT 2;
            """
        #expect(
            try texts(script) == [
                "INSERT INTO t VALUES ('a;b', 'it''s; fine', E'back\\';slash')",
                "SELECT \"odd;name\" FROM t",
                // Comments before a statement are not part of it.
                "SELECT 2",
            ])
    }

    @Test func dollarQuotedBodiesStayWhole() throws {
        let script = """
            CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
            BEGIN
                RETURN 1;
            END;
            $$;
            DO $body$ BEGIN PERFORM $1; RAISE NOTICE '$$'; END $body$;
            SELECT $1::int;
            """
        let statements = try texts(script)
        #expect(statements.count == 3)
        #expect(statements[0].hasSuffix("END;\n$$"))
        #expect(statements[1] == "DO $body$ BEGIN PERFORM $1; RAISE NOTICE '$$'; END $body$")
        #expect(statements[2] == "SELECT $1::int")
    }

    @Test func sqlStandardFunctionBodiesStayWhole() throws {
        let script = """
            CREATE OR REPLACE FUNCTION g(x int) RETURNS int LANGUAGE sql
            BEGIN ATOMIC
                SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;
                SELECT x;
            END;
            BEGIN;
            CREATE TABLE t (a int);
            """
        let statements = try texts(script)
        #expect(statements.count == 3)
        #expect(statements[0].hasPrefix("CREATE OR REPLACE FUNCTION g") && statements[0].hasSuffix("SELECT x;\nEND"))
        #expect(statements[1] == "BEGIN")
    }

    @Test func parenthesesKeepRuleActionsTogether() throws {
        #expect(try texts("CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b); SELECT 1;").count == 2)
    }

    @Test func statementsKnowWhereTheyStart() throws {
        let statements = try SQLScript.statements(in: "-- header\n\nCREATE TABLE a ();  SELECT\n  1;\n  é; x;")
        #expect(statements.map(\.line) == [3, 3, 5, 5])
        #expect(statements.map(\.column) == [1, 21, 3, 6])
        #expect(statements[0].leadingWords == ["create", "table", "a"])
        // PostgreSQL's error position counts characters from the start of the statement.
        let select = statements[1]
        #expect(select.scriptLocation(ofCharacter: 1) == (3, 21))
        #expect(select.scriptLocation(ofCharacter: 10) == (4, 3))
    }

    @Test func unterminatedConstructsAreReportedWithTheirLine() {
        #expect(throws: SQLScriptError(line: 2, problem: "unterminated quoted string starting at line 2")) {
            try SQLScript.statements(in: "SELECT 1;\nSELECT 'abc;\n")
        }
        #expect(throws: SQLScriptError(line: 1, problem: "unterminated /* comment starting at line 1")) {
            try SQLScript.statements(in: "/* /* */ SELECT 1;")
        }
        #expect(throws: SQLScriptError(line: 1, problem: "unterminated quoted identifier starting at line 1")) {
            try SQLScript.statements(in: "SELECT \"a;")
        }
    }
}
