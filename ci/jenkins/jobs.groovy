// Jenkins job definitions (Job DSL), loaded by configuration as code (ci/jenkins/jenkins.yaml).
// Three jobs, so a release never waits on a merge and a pull request never reaches prod:
//   incident-tracker/pipeline          branches and pull requests: PR checks, main -> dev (Jenkinsfile)
//   incident-tracker-release/release   version tags of the protected repository only: prod
//                                      (ci/jenkins/release.Jenkinsfile); the only folder that may
//                                      use the kubernetes-release cloud and so the prod role
//   incident-tracker-release/drift     main of the protected repository, weekly: Terraform drift
//                                      check of dev and prod (ci/jenkins/drift.Jenkinsfile)
// GITHUB_OWNER / GITHUB_REPOSITORY come from the controller's environment.

String owner = System.getenv('GITHUB_OWNER') ?: 'OWNER'
String repo = System.getenv('GITHUB_REPOSITORY_NAME') ?: 'incident-tracker'

folder('incident-tracker') {
    description('Pull request checks and the deploy of main to dev')
    properties {
        kubernetesFolderProperty {
            permittedClouds(['kubernetes', 'kubernetes-build'])
        }
    }
}

multibranchPipelineJob('incident-tracker/pipeline') {
    branchSources {
        branchSource {
            source {
                github {
                    id('incident-tracker-pipeline')
                    repoOwner(owner)
                    repository(repo)
                    repositoryUrl("https://github.com/${owner}/${repo}.git")
                    configuredByUrl(false)
                    credentialsId('github-app')
                    traits {
                        // 1: branches that are not also filed as pull requests
                        gitHubBranchDiscovery { strategyId(1) }
                        // 1: the merge of the PR with its target
                        gitHubPullRequestDiscovery { strategyId(1) }
                        // Forks' Jenkinsfiles are never trusted: their PRs run main's Jenkinsfile.
                        gitHubForkDiscovery {
                            strategyId(1)
                            trust { gitHubTrustPermissions() }
                        }
                    }
                }
            }
            // Any strategy replaces the default "everything but tags": keep branches and PRs;
            // tags belong to the release job.
            buildStrategies {
                buildRegularBranches()
                buildChangeRequests {
                    ignoreTargetOnlyChanges(true)
                    ignoreUntrustedChanges(false)
                }
            }
        }
    }
    factory {
        workflowBranchProjectFactory { scriptPath('Jenkinsfile') }
    }
    orphanedItemStrategy {
        discardOldItems { numToKeep(20) }
    }
}

folder('incident-tracker-release') {
    description('Prod releases from version tags; the only folder with the prod agent cloud')
    properties {
        kubernetesFolderProperty {
            permittedClouds(['kubernetes-release'])
        }
    }
}

multibranchPipelineJob('incident-tracker-release/release') {
    branchSources {
        branchSource {
            source {
                github {
                    id('incident-tracker-release')
                    repoOwner(owner)
                    repository(repo)
                    repositoryUrl("https://github.com/${owner}/${repo}.git")
                    configuredByUrl(false)
                    credentialsId('github-app')
                    traits {
                        // Tags only: no branch, no pull request, no fork is ever built here.
                        gitHubTagDiscovery()
                        headRegexFilter { regex('v[0-9]+\\.[0-9]+\\.[0-9]+') }
                    }
                }
            }
            // Branch API builds tags only with a strategy (basic-branch-build-strategies):
            // a tag pushed within the last 3 days is built on discovery, an old one never.
            buildStrategies {
                buildTags {
                    atLeastDays('-1')
                    atMostDays('3')
                }
            }
        }
    }
    factory {
        workflowBranchProjectFactory { scriptPath('ci/jenkins/release.Jenkinsfile') }
    }
    orphanedItemStrategy {
        discardOldItems { numToKeep(50) }
    }
}

pipelineJob('incident-tracker-release/drift') {
    description('Weekly Terraform drift check of dev and prod with the read-only plan roles')
    properties {
        pipelineTriggers {
            triggers {
                cron { spec('H 3 * * 1') }
            }
        }
    }
    definition {
        cpsScm {
            scm {
                git {
                    remote {
                        url("https://github.com/${owner}/${repo}.git")
                        credentials('github-app')
                    }
                    // The protected branch only: never a pull request's code.
                    branch('*/main')
                }
            }
            scriptPath('ci/jenkins/drift.Jenkinsfile')
            lightweight(true)
        }
    }
}
