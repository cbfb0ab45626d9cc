# ripple's own scenarios, in the openCypher TCK's format: label alternatives in node patterns
# (`(n:A|B)`), which the TCK does not cover. A node matches when it has at least one label of
# each `|` group.

Feature: LabelAlternatives - Match nodes by alternative labels

  Scenario: [1] Match nodes carrying either label
    Given an empty graph
    And having executed:
      """
      CREATE (:A {name: 'a'}), (:B {name: 'b'}), (:A:B {name: 'ab'}), (:C {name: 'c'}), ({name: 'none'})
      """
    When executing query:
      """
      MATCH (n:A|B)
      RETURN n.name AS name
      """
    Then the result should be, in any order:
      | name |
      | 'a'  |
      | 'b'  |
      | 'ab' |
    And no side effects

  Scenario: [2] Combine a required label with alternatives
    Given an empty graph
    And having executed:
      """
      CREATE (:A:X {name: 'ax'}), (:B {name: 'b'}), (:B:X {name: 'bx'}), (:X {name: 'x'})
      """
    When executing query:
      """
      MATCH (n:X:A|B)
      RETURN n.name AS name
      """
    Then the result should be, in any order:
      | name |
      | 'ax' |
      | 'bx' |
    And no side effects

  Scenario: [3] Alternatives on both ends of a relationship
    Given an empty graph
    And having executed:
      """
      CREATE (:A {name: 'a'})-[:T]->(:C {name: 'c'}),
             (:B {name: 'b'})-[:T]->(:D {name: 'd'}),
             (:E {name: 'e'})-[:T]->(:C {name: 'c2'})
      """
    When executing query:
      """
      MATCH (x:A|B)-[:T]->(y:C|D)
      RETURN x.name AS x, y.name AS y
      """
    Then the result should be, in any order:
      | x   | y   |
      | 'a' | 'c' |
      | 'b' | 'd' |
    And no side effects

  Scenario: [4] Alternatives on an already bound node in OPTIONAL MATCH
    Given an empty graph
    And having executed:
      """
      CREATE (:A {name: 'a'})-[:T]->(:B {name: 'b'}),
             (:A {name: 'a2'})-[:T]->(:C {name: 'c'})
      """
    When executing query:
      """
      MATCH (a:A)
      OPTIONAL MATCH (a)-[:T]->(m:B|:D)
      RETURN a.name AS a, m.name AS m
      """
    Then the result should be, in any order:
      | a    | m    |
      | 'a'  | 'b'  |
      | 'a2' | null |
    And no side effects

  Scenario: [5] Counting nodes by alternative labels
    Given an empty graph
    And having executed:
      """
      CREATE (:A), (:A), (:B), (:C)
      """
    When executing query:
      """
      MATCH (n:A|B)
      RETURN count(n) AS count
      """
    Then the result should be, in any order:
      | count |
      | 3     |
    And no side effects
