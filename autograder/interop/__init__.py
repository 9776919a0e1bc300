"""deepgrade inside other people's workflows: nbgrader courses and Gradescope autograders.

Both grade with deepgrade's own engine (hidden graders in this process, student code in
the sandbox) and only translate what goes in and what comes out.
"""
